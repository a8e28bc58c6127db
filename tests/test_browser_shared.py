"""The shared mode for real: `retention serve` on localhost, an OpenID Connect provider, Debian's chromium.

The test starts its own provider (oidc-provider-mock, a real OIDC server: discovery, authorization
form, signed ID tokens) and the server exactly as an operator would, from a deploy.toml, a roles file
and a secrets file. People sign in through the provider's form in the browser. A csm and an executive
visit every page and download every file; the files are checked against the database (account ids,
account counts), and the audit log must hold exactly one line per sign-in and per download. Hostile
visits: no sign-in, an unknown person, a csm editing the URL's filters, non-admins opening the Data
page, a raw websocket, an unverified e-mail address. The sessions and downloads probed as an attacker
would (an expired token, another person's download URL, signing out) are in
test_browser_shared_sessions.py, on a deployment of their own.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
from pypdf import PdfReader
from streamlit.proto.BackMsg_pb2 import BackMsg

from test_browser import (RENDER_MS, PlaywrightTimeout, free_port, _unavailable, chromium, expect, require_browser,
                          serving, wait_rendered)

pytestmark = pytest.mark.browser

try:
    from oidc_provider_mock import run_server_in_thread
except ImportError:  # pragma: no cover - depends on the machine
    run_server_in_thread = None

ROLES = """\
# who may sign in to the test deployment
[users]
"exec@example.com" = "executive"
"dana@example.com" = { role = "csm", scope = 'csm = "Dana Ruiz"' }
"admin@example.com" = "admin"
"late@example.com" = "executive"
"lead@example.com" = "support lead"
"""
DANA = "csm = 'Dana Ruiz'"
# url path -> (title, a text the page shows once its script has run, the files it offers)
PAGES = {
    "": ("Overview", "Active accounts", ["kpi_monthly.csv", "cohort_retention.csv", "retention_overview.html",
                                         "retention_overview.pdf"]),
    "survival": ("Survival explorer", "Split by", ["survival_curves.csv", "survival_summary.csv"]),
    "drivers": ("Service drivers", "Churn by quartile of a factor", ["driver_effects.csv", "driver_effects.json",
                                                                     "churn_by_quartile.csv"]),
    "investment": ("Investment case", "Accounts kept", ["investment_case.pdf", "investment_case.md",
                                                         "investment_case.csv", "investment_case.html"]),
    "at_risk": ("At-risk accounts", "Active accounts scored", ["account_risk.csv"]),
    "evaluate": ("Evaluate a change", "Design", []),
    "data_page": ("Data", None, []),
}
# the overview's KPI table download sits in a collapsed expander
EXPANDERS = {"": ["Monthly KPIs table"]}
# Without a scope the overview also shows the build's forecast of every account, its download in an expander of its
# own; a scoped person's forecast is made only when asked (a toggle), so the company's never reaches their page
FORECAST_EXPANDER, FORECAST_FILE = "The forecast month by month, and how it was made", "forecast.csv"


def page_downloads(path: str, scoped: bool) -> tuple[list[str], list[str]]:
    """(the expanders to open, the files to download, in page order) on a page for a person with or without a
    scope."""
    names, expanders = PAGES[path][2], EXPANDERS.get(path, [])
    if path == "" and not scoped:
        return [FORECAST_EXPANDER] + expanders, [FORECAST_FILE] + names
    return expanders, names


@contextmanager
def oidc_provider():
    with run_server_in_thread(port=0) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def deployment(small_demo_database, tmp_path_factory):
    """`retention serve --config deploy.toml` against a provider started here; yields its URLs and audit log."""
    require_browser()
    if run_server_in_thread is None:
        _unavailable("oidc-provider-mock is not installed (pip install -e '.[test]')")
    folder = tmp_path_factory.mktemp("deploy")
    port = free_port()
    base_url = f"http://localhost:{port}"
    with oidc_provider() as provider:
        (folder / "roles.toml").write_text(ROLES, encoding="utf-8")
        (folder / "secrets.toml").write_text(
            f'[auth]\nredirect_uri = "{base_url}/oauth2callback"\ncookie_secret = "{secrets.token_hex(32)}"\n'
            f'client_id = "retention"\nclient_secret = "{secrets.token_hex(8)}"\n'
            f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n', encoding="utf-8")
        (folder / "secrets.toml").chmod(0o600)
        config = folder / "deploy.toml"
        config.write_text(f'address = "127.0.0.1"\nport = {port}\ndatabase = "{small_demo_database[0]}"\n',
                          encoding="utf-8")
        argv = [sys.executable, "-m", "pipelines.cli", "serve", "--config", str(config)]
        with serving(argv, base_url, folder / "server.log"):
            yield {"base_url": base_url, "provider": provider, "audit": folder / "audit.jsonl",
                   "roles": folder / "roles.toml", "log": folder / "server.log"}


@pytest.fixture(scope="module")
def browser(deployment):
    with chromium() as browser:
        yield browser


@pytest.fixture
def person(browser):
    """A fresh browser profile (its own cookies), closed after the test."""
    contexts = []

    def _new():
        context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.console_lines = []  # the page's own console, for a failure message that says what the app saw
        page.on("console", lambda message: page.console_lines.append(f"{message.type}: {message.text}"))
        return page

    yield _new
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def db(small_demo_database):
    con = duckdb.connect(str(small_demo_database[0]), read_only=True)
    yield con
    con.close()


def provider_user(provider: str, sub: str, **claims) -> None:
    """Set what the provider says about `sub` at its next sign-in (by default a verified e-mail address, the sub)."""
    claims = {"email": sub, "email_verified": True, **claims}
    request = urllib.request.Request(f"{provider}/users/{urllib.parse.quote(sub, safe='')}", method="PUT",
                                     headers={"Content-Type": "application/json"}, data=json.dumps(claims).encode())
    urllib.request.urlopen(request, timeout=10).close()


def sign_in(page, deployment: dict, sub: str, **claims) -> None:
    """Through the provider's own authorization form, as a person would. The provider is first told what to say
    about them: by default that their e-mail address is their sub and is verified (its default user sends no such
    claim); `claims` change what it says."""
    provider_user(deployment["provider"], sub, **claims)
    base_url = deployment["base_url"]
    page.goto(base_url)
    page.get_by_role("button", name="Sign in").click()
    page.locator("input[name=sub]").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    # back on the app itself, past the callback's redirect: a visit started sooner races that redirect
    page.wait_for_url(lambda url: url.startswith(base_url) and "/oauth2callback" not in url, timeout=RENDER_MS)
    settled(page)


def settled(page) -> None:
    expect(page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]')).to_have_count(
        1, timeout=RENDER_MS)


def audit_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def csv_rows(content: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


def click_and_download(page, button, what: str):
    """Click a download button and return the download; fail with what the page showed if none comes.

    A click that leaves no trace (no request reaches the server, no error) is clicked again, as a person would,
    with a warning: on a loaded 2-core machine about one walk in ten lost its first click on the button an
    expander had just revealed (the walk now waits for the expander to open first). A click that did reach the
    server is never repeated unseen: the audit log would then hold two lines, and the walk counts them.
    """
    downloads, errors = [], []

    def arrived(download) -> None:
        downloads.append(download)

    error_text = button.locator("xpath=ancestor::*[@data-testid='stDownloadButton']").get_by_test_id(
        "stDownloadButtonError")
    page.on("download", arrived)
    try:
        deadline = time.monotonic() + RENDER_MS / 1000
        for _ in range(3):
            button.click()
            quiet_until = time.monotonic() + 15
            while not downloads and not errors and time.monotonic() < min(quiet_until, deadline):
                if error_text.count():
                    errors.append(error_text.first.inner_text())
                page.wait_for_timeout(100)
            if downloads or errors or time.monotonic() >= deadline:
                break
            warnings.warn(f"{what}: the click left no trace for 15 s; clicked again")
    finally:
        page.remove_listener("download", arrived)
    if not downloads:
        console = "\n".join(getattr(page, "console_lines", [])[-15:])
        pytest.fail(f"no {what}; the button said: {errors or 'nothing'}; the page's console:\n{console}")
    return downloads[0]


def visit_and_download_everything(page, base_url: str, scoped: bool) -> dict[str, bytes]:
    """Open every page from the sidebar's URLs and click every download button on it: {file name: bytes}."""
    files: dict[str, bytes] = {}
    for path, (title, text, _) in PAGES.items():
        page.goto(f"{base_url}/{path}")
        wait_rendered(page, title, text, False)
        main = page.get_by_test_id("stMain")
        expanders, names = page_downloads(path, scoped)
        if path == "" and scoped:
            expect(main.get_by_text("Forecast the filtered accounts", exact=True)).to_have_count(1)
            expect(main.get_by_text(FORECAST_EXPANDER)).to_have_count(0)
        for label in expanders:
            main.get_by_text(label, exact=True).click()
            # a click on a button while its expander still opens can be lost (see click_and_download)
            expect(main.locator("details[open]").filter(has_text=label)).to_have_count(1)
            try:
                page.wait_for_function("() => document.getAnimations().every(a => a.playState !== 'running')",
                                       timeout=5_000)
            except PlaywrightTimeout:
                pass  # something animates for good (a spinner): the click below is retried if it is lost
        expect(page.get_by_test_id("stException")).to_have_count(0)
        buttons = main.get_by_test_id("stDownloadButton").locator("button")
        expect(buttons).to_have_count(len(names), timeout=RENDER_MS)
        for i, name in enumerate(names):
            settled(page)
            download = click_and_download(page, buttons.nth(i), f"{name} from /{path}")
            assert download.suggested_filename == name
            files[name] = Path(download.path()).read_bytes()
    return files


def scope_counts(db, where: str) -> dict:
    (accounts,) = db.execute(f"select count(*) from account_survival where {where}").fetchone()
    (active,) = db.execute(f"select count(*) from account_survival, build_info where {where} and "
                           "signup_date <= as_of_date and (churn_date is null or churn_date > as_of_date)").fetchone()
    scored = {r[0] for r in db.execute(
        f"select account_id from account_risk where account_id in (select account_id from account_survival "
        f"where {where})").fetchall()}
    return {"accounts": accounts, "active": active, "scored": scored}


def check_files(files: dict[str, bytes], counts: dict, scope_text: str, scoped: bool) -> None:
    """Every file holds the scope's accounts and no other: ids in the account list, counts in the aggregates."""
    assert list(files) == [name for path in PAGES for name in page_downloads(path, scoped)[1]]
    if not scoped:  # the forecast starts from the active accounts: a month on, today's are fewer, never more
        first = [r for r in csv_rows(files[FORECAST_FILE])
                 if r["month_number"] == "1" and r["measure"] == "existing_base_accounts"]
        assert len(first) == 1 and counts["active"] * 0.8 < float(first[0]["upper_95"]) <= counts["active"]
    risk = csv_rows(files["account_risk.csv"])
    assert {r["account_id"] for r in risk} == counts["scored"]
    summary = csv_rows(files["survival_summary.csv"])
    assert [int(r["accounts"]) for r in summary] == [counts["accounts"]]
    assert max(int(r["at_risk"]) for r in csv_rows(files["survival_curves.csv"])) == counts["accounts"]
    assert sum(int(r["cohort_accounts"]) for r in csv_rows(files["cohort_retention.csv"])
               if r["months_since_signup"] == "0") == counts["accounts"]
    assert f"{counts['active']:,} active accounts ({scope_text})" in files["investment_case.md"].decode("utf-8")
    overview = files["retention_overview.html"].decode("utf-8")
    assert f"<th>Active accounts</th><td>{counts['active']:,}</td>" in overview
    # the PDF briefs: the scope's accounts, and the scope named on every page
    for name, phrase in (("retention_overview.pdf", f"Active accounts {counts['active']:,}"),
                         ("investment_case.pdf", f"for the {counts['active']:,} active accounts")):
        pages = [page.extract_text() for page in PdfReader(io.BytesIO(files[name])).pages]
        assert phrase in re.sub(r"\s+", " ", " ".join(pages)), name
        assert all((scope_text if scoped else "all accounts") in re.sub(r"\s+", " ", text) for text in pages), name


def test_shared_mode_walk_as_csm_and_executive(deployment, person, db):
    base_url, log = deployment["base_url"], deployment["audit"]
    dana_page, exec_page = person(), person()
    before = len(audit_lines(log))

    sign_in(dana_page, deployment, "dana@example.com")
    dana_files = visit_and_download_everything(dana_page, base_url, scoped=True)
    sign_in(exec_page, deployment, "exec@example.com")
    exec_files = visit_and_download_everything(exec_page, base_url, scoped=False)

    dana, everyone = scope_counts(db, DANA), scope_counts(db, "true")
    assert dana["accounts"] < everyone["accounts"] and dana["scored"] < everyone["scored"]
    check_files(dana_files, dana, "CSM = Dana Ruiz", scoped=True)
    assert {r["csm"] for r in csv_rows(dana_files["account_risk.csv"])} == {"Dana Ruiz"}
    check_files(exec_files, everyone, "all active accounts", scoped=False)
    # the Data page of a csm and an executive: no raw tables, no upload, no rebuild
    for page in (dana_page, exec_page):
        page.goto(f"{base_url}/data_page")
        wait_rendered(page, "Data", "The inputs, load report and rejected rows are shown to analysts and admins.",
                      False)
        expect(page.get_by_test_id("stFileUploader")).to_have_count(0)
        expect(page.get_by_text("Build from your own files")).to_have_count(0)

    # one line per sign-in and per download, in order, naming the file, the filters and the rows
    lines = audit_lines(log)[before:]
    expected = [("sign_in", "dana@example.com", None)] + [("export", "dana@example.com", n) for n in dana_files] \
        + [("sign_in", "exec@example.com", None)] + [("export", "exec@example.com", n) for n in exec_files]
    assert [(e["event"], e["user"], e.get("file")) for e in lines] == expected
    for entry in lines:
        if entry["event"] == "export":
            files = dana_files if entry["user"] == "dana@example.com" else exec_files
            assert entry["filters"] == (["csm=Dana Ruiz"] if entry["user"] == "dana@example.com" else [])
            if entry["file"].endswith(".csv"):
                assert entry["rows"] == len(csv_rows(files[entry["file"]]))


def test_signed_out_visitor_gets_the_sign_in_page_and_no_data(deployment, person):
    page = person()
    for path in ("", "data_page", "at_risk?filter=plan%3DStarter"):
        page.goto(f"{deployment['base_url']}/{path}")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=RENDER_MS)
        settled(page)
        source = page.content()
        for leak in ("Active accounts", "A000", "Dana Ruiz", "Build from your own files", "stSidebarNavLink",
                     "stDataFrame", "stPlotlyChart"):
            assert leak not in source, (path, leak)


def test_unknown_person_is_refused(deployment, person):
    page, log = person(), deployment["audit"]
    before = len(audit_lines(log))

    sign_in(page, deployment, "stranger@example.com")

    expect(page.get_by_role("heading", name="Not authorised")).to_be_visible(timeout=RENDER_MS)
    settled(page)
    page.goto(f"{deployment['base_url']}/at_risk")
    expect(page.get_by_role("heading", name="Not authorised")).to_be_visible(timeout=RENDER_MS)
    settled(page)
    assert "Active accounts" not in page.content() and "A000" not in page.content()
    assert [(e["event"], e["user"]) for e in audit_lines(log)[before:]] == [("refused", "stranger@example.com")]


def test_csm_editing_the_url_filters_keeps_the_scope(deployment, person, db):
    page = person()
    base_url = deployment["base_url"]
    sign_in(page, deployment, "dana@example.com")
    dana = scope_counts(db, DANA)

    # more hostile texts are tried in test_app_access.py; here the browser's own URL handling is in the path
    for query in ("filter=region%3DEMEA&filter=1%3D1", "filter=csm%21%3DDana%20Ruiz&filter=csm%3DSam%20Patel"):
        page.goto(f"{base_url}/?{query}")
        wait_rendered(page, "Overview", "Active accounts", False)
        value = page.get_by_test_id("stMetric").filter(has_text="Active accounts").get_by_test_id("stMetricValue")
        expect(value).to_have_text(f"{dana['active']:,}")
        expect(page.get_by_test_id("stMain").get_by_text("Filters: CSM = Dana Ruiz", exact=False)).to_be_visible()
    page.goto(f"{base_url}/at_risk?filter=region%3DEMEA")
    wait_rendered(page, "At-risk accounts", "Active accounts scored", False)
    with page.expect_download(timeout=RENDER_MS) as download:
        page.get_by_test_id("stDownloadButton").locator("button").click()
    assert {r["account_id"] for r in csv_rows(Path(download.value.path()).read_bytes())} == dana["scored"]


def test_admin_sees_the_audit_log_and_the_rebuild_and_signs_out(deployment, person):
    page, base_url = person(), deployment["base_url"]
    sign_in(page, deployment, "admin@example.com")

    page.goto(f"{base_url}/data_page")
    wait_rendered(page, "Data", "Build from your own files", False)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(main.get_by_role("heading", name="Load report")).to_be_visible()
    expect(page.get_by_test_id("stFileUploader").first).to_be_visible()

    # sign-out goes through the provider's end-session page and back to a signed-out app
    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=RENDER_MS)
    page.goto(f"{base_url}/data_page")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=RENDER_MS)
    settled(page)
    assert "Audit log" not in page.content()


def test_a_raw_websocket_without_sign_in_cannot_clear_the_caches(deployment):
    """One BackMsg clear_cache emptied every cached function of the server, for anyone who opened a websocket."""
    from websockets.sync.client import connect

    base_url, log = deployment["base_url"], deployment["log"]
    message = BackMsg()
    message.clear_cache = True
    with connect(base_url.replace("http", "ws", 1) + "/_stcore/stream", origin=base_url) as socket:
        socket.send(message.SerializeToString())
        time.sleep(1.0)
    deadline = time.monotonic() + 10
    while "dropped a clear_cache message from a session that is not signed in" not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, "the guard did not see the message"
        time.sleep(0.2)

    for path in ("_stcore/metrics", "_stcore/agent/openapi.json"):
        with pytest.raises(urllib.error.HTTPError) as closed:
            urllib.request.urlopen(f"{base_url}/{path}", timeout=10)
        assert closed.value.code == 404, path
    with urllib.request.urlopen(base_url, timeout=10) as page:
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["Referrer-Policy"] == "no-referrer"
    request = urllib.request.Request(f"{base_url}/auth/logout", headers={"Sec-Fetch-Site": "cross-site"})
    with pytest.raises(urllib.error.HTTPError) as forged:
        urllib.request.urlopen(request, timeout=10)
    assert forged.value.code == 403


def test_an_unverified_email_lets_nobody_in_and_claims_are_shown_as_text(deployment, person):
    """A provider that sends email_verified as the text "false": the claimed address is not who this is."""
    log, before = deployment["audit"], len(audit_lines(deployment["audit"]))
    page = person()
    sign_in(page, deployment, "mallory", email="exec@example.com", email_verified="false")
    expect(page.get_by_role("heading", name="Not authorised")).to_be_visible(timeout=RENDER_MS)
    settled(page)
    text = page.get_by_test_id("stMain").inner_text()
    assert "your sub is: mallory" in text and "exec@example.com" not in text
    assert "did not say it verified your e-mail address" in text
    (line,) = audit_lines(log)[before:]
    assert (line["event"], line["user"], line["unverified_email"]) == ("refused", "mallory", "exec@example.com")

    other = person()
    # a sub written as a Markdown link (the provider's routes take no "/" in a sub, hence mailto)
    sign_in(other, deployment, "[Fix your access here](mailto:help@evil.example)")
    expect(other.get_by_role("heading", name="Not authorised")).to_be_visible(timeout=RENDER_MS)
    settled(other)
    assert other.locator("a[href^='mailto:']").count() == 0
    assert "[Fix your access here](mailto:help@evil.example)" in other.get_by_test_id("stMain").inner_text()
