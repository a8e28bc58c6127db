"""The shared mode in AppTest: who is let in, what each role sees, and that a csm's scope holds everywhere.

`st.user` is set as the identity token's claims would set it after a real sign-in (the browser test,
test_browser_shared.py, signs in for real against an OpenID Connect provider). Numbers are checked
against SQL written here on the small demo, whose accounts carry a csm column.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from conftest import APP_RUN_TIMEOUT as RUN_TIMEOUT, page_failures, run_app
from pipelines.access import Access, ROLE_PERMISSIONS

ROLES = """\
[users]
"exec@example.com" = "executive"
"analyst@example.com" = "analyst"
"lead@example.com" = "support_lead"
"dana@example.com" = { role = "csm", scope = 'csm = "Dana Ruiz"' }
"admin@example.com" = "admin"
"""
DANA = "csm = 'Dana Ruiz'"


@pytest.fixture
def deployment(tmp_path, small_demo_database, monkeypatch):
    """The shared mode's environment, as `retention serve` sets it: database, roles file, audit log."""
    monkeypatch.setenv("RETENTION_DB", str(small_demo_database[0]))
    roles = tmp_path / "roles.toml"
    roles.write_text(ROLES, encoding="utf-8")
    monkeypatch.setenv("RETENTION_ROLES", str(roles))
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("RETENTION_AUDIT_LOG", str(log))
    return log


def claims(email: str | None, expires_in: float = 600, nonce: str = "n1") -> dict:
    if email is None:
        return {"is_logged_in": False}
    now = int(time.time())
    return {"is_logged_in": True, "email": email, "email_verified": True, "sub": f"sub-{email}",
            "iss": "http://localhost:9", "iat": now - 5, "exp": now + expires_in, "nonce": nonce}


def open_as(user: dict, page: str = "overview", query_params: dict | None = None) -> AppTest:
    return run_app(page, query_params, user=user)


@pytest.fixture(scope="module")
def db(small_demo_database):
    con = duckdb.connect(str(small_demo_database[0]), read_only=True)
    yield con
    con.close()


def active_accounts(db, where: str = "true") -> str:
    (count,) = db.execute(
        f"select count(*) from account_survival, build_info where signup_date <= as_of_date "
        f"and (churn_date is null or churn_date > as_of_date) and {where}").fetchone()
    return f"{count:,}"


def tile(at: AppTest, label: str) -> str:
    return {m.label: m.value for m in at.metric}[label]


def audit_lines(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []


@pytest.mark.parametrize("page", ["overview", "data_page"])
def test_signed_out_visitor_sees_only_the_sign_in(deployment, page):
    at = open_as(claims(None), page)

    assert [t.value for t in at.title] == ["Support retention"]
    assert [b.label for b in at.button] == ["Sign in"]
    assert len(at.metric) == len(at.dataframe) == len(at.sidebar.selectbox) == len(at.get("plotly_chart")) == 0
    assert len(at.file_uploader) == 0
    assert audit_lines(deployment) == []


def test_unknown_user_is_refused_with_one_audit_line(deployment):
    sign_in = claims("stranger@example.com")  # one token: made twice, its iat could fall in two seconds
    at = open_as(sign_in)
    open_as(sign_in)  # a second tab on the same sign-in

    assert [t.value for t in at.title] == ["Not authorised"]
    assert len(at.metric) == len(at.dataframe) == len(at.sidebar.selectbox) == 0
    assert [(e["event"], e["user"]) for e in audit_lines(deployment)] == [("refused", "stranger@example.com")]


def test_expired_token_is_refused(deployment):
    at = open_as(claims("exec@example.com", expires_in=-1))

    assert [t.value for t in at.title] == ["Your sign-in has expired"]
    assert len(at.metric) == len(at.sidebar.selectbox) == 0


def test_a_token_that_expires_during_a_session_stops_its_next_rerun(deployment, monkeypatch):
    at = open_as(claims("exec@example.com", expires_in=30))
    assert tile(at, "Active accounts")

    later = time.time() + 60
    monkeypatch.setattr(time, "time", lambda: later)
    at.run(timeout=RUN_TIMEOUT)

    assert [t.value for t in at.title] == ["Your sign-in has expired"]
    assert len(at.metric) == 0


def test_csm_sees_only_their_book_and_the_executive_everything(deployment, db):
    dana = open_as(claims("dana@example.com"))
    executive = open_as(claims("exec@example.com", nonce="n2"))
    dana_again = open_as(claims("dana@example.com", nonce="n3"))  # after the executive filled the caches

    assert tile(dana, "Active accounts") == tile(dana_again, "Active accounts") == active_accounts(db, DANA)
    assert tile(executive, "Active accounts") == active_accounts(db)
    assert active_accounts(db, DANA) != active_accounts(db)
    assert "CSM = Dana Ruiz" in dana.caption[0].value
    assert dana.sidebar.multiselect(key="filter:csm").options == ["Dana Ruiz"]
    assert dana.sidebar.multiselect(key="filter:region").options == ["North America"]
    assert "Signed in as dana@example.com · csm (csm=Dana Ruiz)" in [c.value for c in dana.sidebar.caption]
    signed_in = [(e["user"], e["role"]) for e in audit_lines(deployment) if e["event"] == "sign_in"]
    assert signed_in == [("dana@example.com", "csm"), ("exec@example.com", "executive"), ("dana@example.com", "csm")]


@pytest.mark.parametrize("hostile", [["region=EMEA"], ["csm=Sam Patel"], ["1=1"], ["csm!=Dana Ruiz"],
                                     ["csm=Dana Ruiz' or '1'='1"], ["region=EMEA", "csm=Lea Martin"]])
def test_csm_url_filters_cannot_widen_the_scope(deployment, db, hostile):
    at = open_as(claims("dana@example.com"), query_params={"filter": hostile})

    assert tile(at, "Active accounts") == active_accounts(db, DANA)
    assert "· Filters: CSM = Dana Ruiz ·" in at.caption[0].value  # the hostile filter was dropped, the scope kept


def test_csm_at_risk_list_holds_only_their_accounts_and_says_whose_model(deployment, db):
    at = open_as(claims("dana@example.com"), "at_risk")

    shown = next(d.value for d in at.dataframe if "account_id" in d.value.columns)
    listed = set(shown.account_id)
    book = {r[0] for r in db.execute(f"select account_id from account_survival where {DANA}").fetchall()}
    assert listed and listed <= book
    # her riskiest account is her number 1, not its place among the company's accounts
    assert list(shown.risk_rank) == list(range(1, len(shown) + 1))
    assert any("fitted on every account of the build" in c.value for c in at.caption)
    assert [b.label for b in at.download_button] == ["Download all scored accounts (CSV)"]


def test_csm_is_told_which_driver_figures_are_the_companys(deployment):
    at = open_as(claims("dana@example.com"), "drivers")

    captions = [c.value for c in at.caption]
    assert page_failures(at) == []
    company_wide = "Fitted at build time on every account of the company: your scope does not apply to"
    assert any(company_wide + " this table." in c for c in captions)  # each factor's own model
    assert any(company_wide + " these figures." in c for c in captions)  # the model information
    assert any(company_wide + " this model." in c for c in captions)  # the mutually adjusted view


def test_sidebar_levels_cached_for_one_person_are_never_shown_to_another(deployment, db):
    """The sidebar's levels and cohort range are cached per build and scope: the executive's (every account) are
    cached first, and the csm still sees only her book's, and the executive his after her."""
    executive = open_as(claims("exec@example.com"))
    dana = open_as(claims("dana@example.com", nonce="n2"))
    executive_again = open_as(claims("exec@example.com", nonce="n3"))

    everyone = sorted(r[0] for r in db.execute("select distinct csm from account_survival").fetchall())
    assert dana.sidebar.multiselect(key="filter:csm").options == ["Dana Ruiz"]
    assert executive.sidebar.multiselect(key="filter:csm").options == everyone
    assert executive_again.sidebar.multiselect(key="filter:csm").options == everyone
    first_cohort = db.execute(f"select min(signup_cohort_month) from account_survival where {DANA}").fetchone()[0]
    assert dana.sidebar.selectbox(key="filter:cohort_from").options[0] == f"{first_cohort:%Y-%m}"


@pytest.mark.parametrize("by", [None, "region"])
def test_csm_survival_counts_only_their_book_never_the_stored_counts(deployment, db, monkeypatch, by):
    """The build stores Kaplan-Meier counts of every account for the unfiltered view; a scoped person's view is
    filtered by the scope, so it counts their own accounts, even with no filter of their own."""
    from dashboard import auth, data

    book = db.execute(f"select count(*) from account_survival where {DANA}").fetchone()[0]
    everyone = db.execute("select count(*) from account_survival").fetchone()[0]
    dana = Access(who="dana@example.com", role="csm", scope=("csm=Dana Ruiz",), permissions=ROLE_PERMISSIONS["csm"])
    monkeypatch.setattr(auth, "current_access", lambda: dana)
    scoped = data.survival(db, by, ())
    monkeypatch.setattr(auth, "current_access", lambda: Access(who="exec@example.com", role="executive"))
    unscoped = data.survival(db, by, ())

    assert (scoped.counts_source_, scoped.n_accounts_) == ("aggregated", book)
    assert [f["text"] for f in scoped.filters_] == ["csm=Dana Ruiz"]
    assert scoped.curves_.groupby("group")["at_risk"].first().sum() == book
    assert (unscoped.counts_source_, unscoped.n_accounts_) == ("stored", everyone) and book < everyone


def test_support_lead_downloads_aggregates_only(deployment):
    at_risk = open_as(claims("lead@example.com"), "at_risk")
    survival = open_as(claims("lead@example.com", nonce="n2"), "survival")

    assert len(at_risk.download_button) == 0
    assert any("files that list accounts are not part of the support lead role" in c.value for c in at_risk.caption)
    assert [b.label for b in survival.download_button] == ["Download the curve table (CSV)",
                                                            "Download the summary (CSV)"]


@pytest.mark.parametrize("email, raw, audit, rebuild", [
    ("exec@example.com", False, False, False),
    ("dana@example.com", False, False, False),
    ("lead@example.com", False, False, False),
    ("analyst@example.com", True, False, False),
    ("admin@example.com", True, True, True),
])
def test_data_page_by_role(deployment, email, raw, audit, rebuild):
    at = open_as(claims(email), "data_page")

    headers = [h.value for h in at.subheader]
    assert ("Load report" in headers) is raw
    assert ("Audit log" in headers) is audit
    assert ("Build from your own files" in headers) is rebuild
    assert (len(at.file_uploader) > 0) is rebuild
    assert ("Build the database" in [b.label for b in at.button]) is rebuild
    if audit:
        log = next(d.value for d in at.dataframe if "event" in d.value.columns)
        assert list(log.event) == ["sign_in"] and list(log.user) == [email]


def test_data_layer_narrows_every_query_and_refuses_without_access(db, monkeypatch):
    """Called directly, as a page would: the data layer itself applies the scope and the permissions."""
    from dashboard import auth, data

    as_of = db.execute("select as_of_date from build_info").fetchone()[0]
    dana = Access("dana@example.com", "csm", ("csm=Dana Ruiz",), ROLE_PERMISSIONS["csm"])
    monkeypatch.setattr(auth, "current_access", lambda: dana)

    book = {r[0] for r in db.execute(f"select account_id from account_survival where {DANA}").fetchall()}
    assert data.account_count(db, ()) == len(book)
    assert data.headline_kpis(db, ("region=EMEA",), as_of).loc["as_of"].active_accounts == 0  # Dana's are NA
    assert f"{data.headline_kpis(db, (), as_of).loc['as_of'].active_accounts:,}" == active_accounts(db, DANA)
    assert data.survival(db, None, ()).summary_.n_accounts.sum() == len(book)
    _, riskiest, _, _ = data.cached_risk(db, "build", ())
    assert set(riskiest.account_id) <= book
    with pytest.raises(PermissionError):
        data.cached_table(db, "build", "load_report")

    monkeypatch.setattr(auth, "current_access", lambda: None)
    with pytest.raises(PermissionError):
        data.account_count(db, ())


def test_a_download_made_on_click_keeps_the_scope_of_the_session_that_showed_it(deployment, db, monkeypatch):
    """The at-risk file is made when its button is clicked, on a server thread where no session is there to ask:
    the scope and the permission are taken when the page shows the button, and hold when the file is made."""
    from dashboard import auth, data

    monkeypatch.setattr(auth, "signed_in_claims", lambda: claims("dana@example.com"))
    make = data.risk_csv.captured(db, ("plan=Starter",))

    monkeypatch.setattr(auth, "signed_in_claims", lambda: {})  # the click: no session is current
    with pytest.raises(PermissionError):
        data.risk_csv(db, ("plan=Starter",))
    rows = list(csv.DictReader(make().decode("utf-8").splitlines()))
    expected = {r[0] for r in db.execute(
        f"select account_id from account_risk where account_id in "
        f"(select account_id from account_survival where {DANA} and plan = 'Starter')").fetchall()}
    assert rows and {r["account_id"] for r in rows} == expected

    monkeypatch.setattr(auth, "signed_in_claims", lambda: claims("lead@example.com"))
    with pytest.raises(PermissionError):
        data.risk_csv.captured(db, ())


def test_admin_rebuild_leaves_one_audit_line_naming_its_inputs(deployment, tmp_path, small_demo_database,
                                                                monkeypatch):
    """A rebuild from uploads the build refuses: the live database stays, and the log says who tried what."""
    import hashlib
    import shutil

    live = tmp_path / "live.duckdb"
    shutil.copyfile(small_demo_database[0], live)
    monkeypatch.setenv("RETENTION_DB", str(live))
    accounts = b"account_id,signup_date\nA1,not a date\n"
    interactions = b"interaction_id,account_id\nT1,A1\n"
    at = open_as(claims("admin@example.com"), "data_page")

    at.file_uploader(key="up_accounts").set_value(("my accounts.csv", accounts, "text/csv"))
    at.file_uploader(key="up_interactions").set_value(("tickets.csv", interactions, "text/csv"))
    at.run(timeout=RUN_TIMEOUT)
    build = next(b for b in at.button if b.label == "Build the database")
    assert not build.disabled
    build.click().run(timeout=RUN_TIMEOUT)

    rebuilds = [e for e in audit_lines(deployment) if e["event"] == "rebuild"]
    assert len(rebuilds) == 1
    (line,) = rebuilds
    assert (line["user"], line["role"], line["kind"]) == ("admin@example.com", "admin", "contract")
    assert line["outcome"].startswith("failed: ") and line["build_id"] is None
    assert [(i["source"], i["file"], i["bytes"], i["sha256"]) for i in line["inputs"]] == [
        ("accounts", "my accounts.csv", len(accounts), hashlib.sha256(accounts).hexdigest()),
        ("interactions", "tickets.csv", len(interactions), hashlib.sha256(interactions).hexdigest())]


def test_without_roles_the_app_shows_nothing_beyond_localhost(small_demo_database, monkeypatch):
    """`streamlit run --server.address 0.0.0.0` by hand, without `retention serve`: no data, and why."""
    from streamlit import config

    monkeypatch.setenv("RETENTION_DB", str(small_demo_database[0]))
    monkeypatch.delenv("RETENTION_ROLES", raising=False)
    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    try:
        at = run_app()
    finally:
        config.set_option("server.address", before)

    assert len(at.metric) == len(at.sidebar.selectbox) == len(at.title) == 0
    assert "listens on 0.0.0.0 without sign-in" in at.error[0].value and "retention serve" in at.error[0].value


def test_a_roles_file_broken_while_serving_lets_nobody_in(deployment, monkeypatch, tmp_path):
    """Edited into an error after `retention serve` checked it: everyone is refused, and the page names nobody."""
    broken = tmp_path / "roles.toml"
    broken.write_text(ROLES + '"eve@example.com" = "superuser"\n', encoding="utf-8")

    at = open_as(claims("exec@example.com"))

    assert len(at.metric) == len(at.sidebar.selectbox) == 0
    assert "Nobody can be let in until the roles file is fixed" in at.error[0].value
    assert "eve@example.com" not in at.error[0].value and "line" not in at.error[0].value


def test_csm_drivers_page_shows_every_accounts_fit_and_refits_on_their_book_when_asked(deployment, db):
    """A csm's drivers page shows the build's fit on every account and says their scope does not apply to it; the
    toggle refits on their book alone (the same model as a fit with their scope as the filter)."""
    from pipelines.models.drivers import ServiceDrivers

    at = open_as(claims("dana@example.com"), "drivers")
    (caption,) = [c.value for c in at.caption if c.value.startswith("One model with every factor in it")]
    assert "Fitted at build time on every account of the company: your scope does not apply to this model" in caption
    shown = next(d.value for d in at.dataframe if "hazard_ratio" in d.value.columns).set_index("term").hazard_ratio
    stored = dict(db.execute("select term, hazard_ratio from driver_effects").fetchall())
    assert shown.to_dict() == stored

    at.toggle(key="drivers_refit").set_value(True).run(timeout=RUN_TIMEOUT)

    book = ServiceDrivers(filters=["csm=Dana Ruiz"]).fit(db)
    assert not page_failures(at)
    shown = next(d.value for d in at.dataframe if "hazard_ratio" in d.value.columns).set_index("term").hazard_ratio
    assert sorted(shown.index) == sorted(book.effects_.term)
    # only the terms the book's data identify: two missing indicators of nearly the same months leave the
    # likelihood flat along one direction (standard errors near 1e5), and where Newton stops on it depends on
    # where it starts (from the build's coefficients here, from zero in `book`)
    identified = book.effects_[book.effects_.se < 100].set_index("term").hazard_ratio
    assert len(identified) >= 15
    assert shown.loc[identified.index].to_numpy() == pytest.approx(identified.to_numpy(), rel=1e-8)
    (caption,) = [c.value for c in at.caption if c.value.startswith("One model with every factor in it")]
    assert f"Refitted on the filtered accounts ({book.model_info_['n_accounts']:,} accounts" in caption


def test_every_cached_query_that_takes_filters_is_keyed_on_the_persons_scope():
    """A cached query whose filters reach it without the scope would hand one person's answer to another: every
    cached_* function of the data layer that takes filters is wrapped by in_scope outermost, so the scope is part
    of its cache key."""
    import inspect

    from dashboard import data

    cached = {name: getattr(data, name) for name in dir(data) if name.startswith("cached_")}
    with_filters = {name for name, function in cached.items() if "filters" in inspect.signature(function).parameters}
    assert {"cached_kpis", "cached_forecast", "cached_forecast_with_change", "cached_whatif"} <= with_filters
    assert [name for name in sorted(with_filters) if not hasattr(cached[name], "captured")] == []
