"""Churn by cause from a built database: `CauseIncidence` (pipelines.models.competing_risks), `retention km
--by-cause`, the chart builder and sentences of the survival explorer's "churn by cause" view, and the view itself.

The reference for the curves is `CumulativeIncidence` (validated against R's cmprsk::cuminc, scikit-survival and
lifelines in tests/test_competing_risks.py), run here on the account rows read from the same database with SQL
written in this file; the groups are KaplanMeier's, which tests/test_survival.py checks against lifelines.
"""

from __future__ import annotations

import io
import json
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from conftest import INTERACTION_HEADER, page_failures, run_app, write_csv
from dashboard import charts, data, survival_view
from dashboard.labels import cause_label
from pipelines.build import build_database
from pipelines.models.competing_risks import (
    SUMMARY_COLUMNS,
    CauseIncidence,
    CompetingRisksInputError,
    CumulativeIncidence,
    NoChurnReasonsError,
)
from pipelines.models.survival import KaplanMeier, SurvivalInputError
from pipelines.settings import BuildSettings
from test_survival import run_km

AS_OF = date(2025, 6, 30)
ACCOUNT_COLUMNS = ["account_id", "signup_date", "churn_date", "mrr", "plan", "seats", "churn_reason"]
# reasons as a billing tool writes them; the reasons file below maps the last to a cause of the analyst's own
REASONS = ["too expensive", "payment_failed", "", "moved to free plan"]
REASONS_FILE = 'other_reasons = "voluntary"\n[reasons]\npayment_failed = "involuntary"\n' \
               '"moved to free plan" = "downgrade_to_free"\n'
CAUSES = ["voluntary", "involuntary", "downgrade_to_free", "unknown"]
# the causes' curves and the survival telescope to 1; only float rounding over the event times is allowed
IDENTITY_TOLERANCE = 1e-12


def synthetic_accounts(n: int, seed: int, with_reasons: bool) -> list[list[str]]:
    """Accounts over about 2.5 years with whole-day lifetimes (ties), a third still customers at as-of, churn
    reasons of four kinds (one in four churns gives none), two plans and a numeric segment split by quartile."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        signup = AS_OF - timedelta(days=int(rng.integers(0, 900)))
        churn = signup + timedelta(days=int(rng.exponential(500)))
        plan = str(rng.choice(["Basic", "Pro"]))
        # Pro accounts fail to pay less often: the causes differ between the groups
        reason = str(rng.choice(REASONS, p=[0.35, 0.15, 0.25, 0.25] if plan == "Pro" else [0.25, 0.35, 0.25, 0.15]))
        churned = churn <= AS_OF
        rows.append([f"A{i:04d}", signup.isoformat(), churn.isoformat() if churned else "", "100", plan,
                     str(int(rng.integers(1, 60))), reason if churned and with_reasons else ""])
    return rows


def _build(folder, with_reasons: bool):
    accounts = write_csv(folder / "accounts.csv", ACCOUNT_COLUMNS, synthetic_accounts(360, 5, with_reasons))
    interactions = write_csv(folder / "interactions.csv", INTERACTION_HEADER, [])
    reasons = folder / "reasons.toml"
    reasons.write_text(REASONS_FILE, encoding="utf-8")
    db_path = folder / "retention.duckdb"
    build_database(accounts, interactions, db_path,
                   settings=BuildSettings(as_of=AS_OF, fit_models=False, churn_reasons=str(reasons)))
    return db_path


@pytest.fixture(scope="module")
def reasons_db(tmp_path_factory):
    """(read-only connection, path) of a build whose accounts give churn reasons."""
    db_path = _build(tmp_path_factory.mktemp("causes"), with_reasons=True)
    con = duckdb.connect(str(db_path), read_only=True)
    yield con, db_path
    con.close()


@pytest.fixture(scope="module")
def no_reasons_db(tmp_path_factory):
    """(read-only connection, path) of the same accounts without churn reasons: every churn is 'unknown'."""
    db_path = _build(tmp_path_factory.mktemp("no_causes"), with_reasons=False)
    con = duckdb.connect(str(db_path), read_only=True)
    yield con, db_path
    con.close()


def account_rows(con, where: str = "true") -> pd.DataFrame:
    return con.execute(f"select duration_days, churn_cause, plan from account_survival where {where} "
                       "order by account_id").df()


# --------------------------------------------------------------------------------------------
# The model on a built database
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("by", [None, "plan"])
def test_cause_incidence_equals_cumulative_incidence_on_the_account_rows(reasons_db, by):
    con, _ = reasons_db
    model = CauseIncidence(by=by).fit(con)
    rows = account_rows(con)
    reference = CumulativeIncidence(causes=CAUSES).fit(rows["duration_days"], rows["churn_cause"],
                                                       rows["plan"] if by else None)

    assert model.causes_ == CAUSES  # voluntary, involuntary, the analyst's own cause, unknown last
    assert model.groups_ == (["Basic", "Pro"] if by else ["all"])
    pd.testing.assert_frame_equal(model.incidence_, reference.incidence_, check_exact=False, rtol=0, atol=1e-14)
    pd.testing.assert_frame_equal(model.survival_, reference.survival_, check_exact=False, rtol=0, atol=1e-14)


def test_causes_and_still_a_customer_add_up_to_one(reasons_db):
    model = CauseIncidence(by="plan").fit(reasons_db[0])

    churned = model.incidence_.groupby(["group", "time_days"], sort=False).cumulative_incidence.sum()
    survival = model.survival_.set_index(["group", "time_days"]).survival
    np.testing.assert_allclose((churned + survival).to_numpy(), 1.0, rtol=0, atol=IDENTITY_TOLERANCE)
    at_horizons = model.summary_.groupby(["group", "horizon_days"]).cumulative_incidence.sum(min_count=1)
    still = model.still_customer_.set_index(["group", "horizon_days"]).survival
    known = still.notna()
    np.testing.assert_allclose((at_horizons + still)[known].to_numpy(), 1.0, rtol=0, atol=IDENTITY_TOLERANCE)


def test_counts_are_the_churned_accounts_per_group_and_cause(reasons_db):
    con, _ = reasons_db
    model = CauseIncidence(by="plan").fit(con)
    expected = {(plan, cause): n for plan, cause, n in con.execute(
        "select plan, churn_cause, count(*) from account_survival where churned = 1 group by all").fetchall()}

    assert {(r.group, r.cause): r.n_churned for r in model.counts_.itertuples()} == expected
    sizes = dict(con.execute("select plan, count(*) from account_survival group by plan").fetchall())
    assert dict(zip(model.group_summary_.group, model.group_summary_.n_accounts)) == sizes
    assert model.n_accounts_ == sum(sizes.values())


def test_horizons_read_the_step_function_and_are_unknown_past_follow_up(reasons_db):
    con, _ = reasons_db
    model = CauseIncidence(by="plan").fit(con)
    assert list(model.summary_.columns) == SUMMARY_COLUMNS

    curve = model.incidence_[(model.incidence_.group == "Pro") & (model.incidence_.cause == "voluntary")]
    row = model.summary_.set_index(["group", "cause", "horizon_days"]).loc[("Pro", "voluntary", 365)]
    last_at_or_before = curve[curve.time_days <= 365].iloc[-1]
    assert row.cumulative_incidence == last_at_or_before.cumulative_incidence
    assert (row.ci_lower, row.ci_upper) == (last_at_or_before.ci_lower, last_at_or_before.ci_upper)
    # no account is followed 900 days, so nothing is known there
    late = CauseIncidence(horizons_days=(90, 900)).fit(con)
    assert late.summary_[late.summary_.horizon_days == 900].cumulative_incidence.isna().all()
    assert late.summary_[late.summary_.horizon_days == 90].cumulative_incidence.notna().all()


@pytest.mark.parametrize("by", ["plan", "seats", "signup_year"])
def test_groups_are_kaplan_meiers(reasons_db, by):
    """A value, a quartile of a numeric segment, a year: the same groups in the same order with the same accounts."""
    con, _ = reasons_db
    model = CauseIncidence(by=by).fit(con)
    km = KaplanMeier(by=by, use_stored_counts=False).fit(con)

    assert model.groups_ == km.groups_ and model.grouping_ == km.grouping_
    assert model.group_summary_.n_accounts.tolist() == km.summary_.n_accounts.tolist()
    assert model.group_summary_.n_churned.tolist() == km.summary_.n_churned.tolist()
    # each group's overall survival is its Kaplan-Meier curve at the churn days
    for group in model.groups_:
        ours = model.survival_[model.survival_.group == group].set_index("time_days").survival
        theirs = km.curves_[km.curves_.group == group].set_index("time_days").survival.loc[ours.index]
        np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=0, atol=1e-12)


def test_a_group_is_the_filtered_accounts_fitted_alone(reasons_db):
    con, _ = reasons_db
    by_plan = CauseIncidence(by="plan").fit(con)
    pro = CauseIncidence(filters=["plan=Pro"]).fit(con)

    ours = by_plan.incidence_[by_plan.incidence_.group == "Pro"].drop(columns="group").reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, pro.incidence_.drop(columns="group"))
    assert pro.filters_ == [{"column": "plan", "operator": "=", "value": "Pro", "text": "plan=Pro"}]


def test_no_churn_reasons_is_a_clear_error_and_none_for_the_page(no_reasons_db):
    con, _ = no_reasons_db
    with pytest.raises(NoChurnReasonsError) as caught:
        CauseIncidence().fit(con)
    message = str(caught.value)
    assert "has a churn reason" in message and "churn_reason column" in message
    assert "docs/data-contract.md" in message
    n_churned = con.execute("select count(*) from account_survival where churned = 1").fetchone()[0]
    assert caught.value.n_churned == n_churned and f"{n_churned:,} churned accounts" in message
    assert data.cause_incidence(con, None, ()) is None


def test_bad_columns_filters_and_no_churn_name_the_problem(reasons_db):
    con, _ = reasons_db
    with pytest.raises(CompetingRisksInputError, match="unknown --by column 'tier'.*valid columns: plan"):
        CauseIncidence(by="tier").fit(con)
    with pytest.raises(SurvivalInputError, match="no accounts match the filters plan=Gold"):
        CauseIncidence(filters=["plan=Gold"]).fit(con)
    # the as-of month's signups: accounts, none churned yet
    n_accounts, n_churned = con.execute("select count(*), sum(churned) from account_survival "
                                        "where signup_cohort_month >= ?", [AS_OF.replace(day=1)]).fetchone()
    assert n_accounts > 0 and n_churned == 0
    with pytest.raises(CompetingRisksInputError, match="no account matching the filters has churned by the as-of"):
        CauseIncidence(filters=[f"signup_cohort_month>={AS_OF:%Y-%m}"]).fit(con)


# --------------------------------------------------------------------------------------------
# retention km --by-cause
# --------------------------------------------------------------------------------------------


def test_cli_by_cause_table_shows_each_cause_at_each_horizon_with_counts(reasons_db, capsys):
    con, path = reasons_db
    code, out, err = run_km(["--db", str(path), "--by-cause", "--by", "plan"], capsys)
    assert code == 0 and err == ""

    model = CauseIncidence(by="plan").fit(con)
    row = model.summary_.set_index(["group", "cause", "horizon_days"]).loc[("Pro", "involuntary", 365)]
    shown = f"{row.cumulative_incidence:.1%} ({row.ci_lower:.1%}-{row.ci_upper:.1%})"
    pro = out[out.index("\nPro\n"):]
    involuntary = next(line for line in pro.splitlines() if line.strip().startswith("churned, involuntary"))
    assert shown in involuntary and f" {int(row.n_churned):,} " in involuntary
    assert "still a customer" in pro and "95% confidence intervals" in out
    assert "add up to 100%" in out and f"as-of {AS_OF}" in out


def test_cli_by_cause_csv_is_the_horizon_table(reasons_db, capsys):
    con, path = reasons_db
    code, out, _ = run_km(["--db", str(path), "--by-cause", "--filter", "plan=Basic", "--format", "csv"], capsys)
    assert code == 0
    assert out.splitlines()[0] == ",".join(SUMMARY_COLUMNS)
    table = pd.read_csv(io.StringIO(out), keep_default_na=False, na_values=[""])
    expected = CauseIncidence(filters=["plan=Basic"]).fit(con).summary_
    assert len(table) == len(CAUSES) * 4 and table.cause.unique().tolist() == CAUSES
    np.testing.assert_allclose(table.cumulative_incidence, expected.cumulative_incidence, rtol=0, atol=1e-12)
    assert table.n_churned.tolist() == expected.n_churned.tolist()


def test_cli_by_cause_json_has_everything_and_no_nan(reasons_db, capsys):
    con, path = reasons_db
    code, out, _ = run_km(["--db", str(path), "--by-cause", "--by", "seats", "--format", "json"], capsys)
    assert code == 0
    result = json.loads(out)  # strict JSON: NaN became null
    for key in ("as_of", "by", "grouping", "causes", "groups", "counts", "cumulative_incidence", "still_customer",
                "incidence_curves", "survival_curves", "notes"):
        assert key in result
    assert result["as_of"] == AS_OF.isoformat() and result["causes"] == CAUSES
    assert [g["group"] for g in result["groups"]][0].startswith("Q1 (<= ")
    model = CauseIncidence(by="seats").fit(con)
    assert result["counts"] == model.counts_.to_dict("records")


def test_cli_by_cause_without_reasons_exits_2_saying_so(no_reasons_db, capsys):
    code, out, err = run_km(["--db", str(no_reasons_db[1]), "--by-cause"], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "has a churn reason" in err and "Traceback" not in err

    from pipelines.cli import main

    assert main(["km", "--db", str(no_reasons_db[1]), "--by-cause", "--format", "json"]) == 2
    assert "churn_reason column" in capsys.readouterr().err


def test_cli_by_cause_refuses_a_reference_group(reasons_db, capsys):
    code, out, err = run_km(["--db", str(reasons_db[1]), "--by-cause", "--reference", "Pro"], capsys)
    assert code == 2 and out == "" and "--reference" in err


# --------------------------------------------------------------------------------------------
# The chart builder and the view's words (pure: no Streamlit)
# --------------------------------------------------------------------------------------------


def incidence_frame() -> pd.DataFrame:
    """Two groups, two causes, every cause of a group on the group's days."""
    rows = [
        # group, cause, time_days, cumulative_incidence, ci_lower, ci_upper
        ("Basic", "voluntary", 0, 0.0, 0.0, 0.0),
        ("Basic", "voluntary", 30, 0.10, 0.05, 0.18),
        ("Basic", "voluntary", 90, 0.10, 0.05, 0.18),
        ("Basic", "involuntary", 0, 0.0, 0.0, 0.0),
        ("Basic", "involuntary", 30, 0.0, 0.0, 0.0),
        ("Basic", "involuntary", 90, 0.20, 0.12, 0.30),
        ("Pro", "voluntary", 0, 0.0, 0.0, 0.0),
        ("Pro", "voluntary", 60, 0.05, 0.01, 0.15),
        ("Pro", "involuntary", 0, 0.0, 0.0, 0.0),
        ("Pro", "involuntary", 60, 0.05, 0.01, 0.15),
    ]
    return pd.DataFrame(rows, columns=["group", "cause", "time_days", "cumulative_incidence", "ci_lower", "ci_upper"])


def test_cause_chart_stacks_one_area_per_cause_per_panel_with_bands():
    fig = charts.cause_incidence(incidence_frame(), labels={"voluntary": "Voluntary", "involuntary": "Involuntary"})

    assert isinstance(fig, go.Figure)
    areas = [t for t in fig.data if t.name]
    assert [t.name for t in areas] == ["Voluntary", "Involuntary"] * 2  # one per cause in each panel
    assert [t.showlegend for t in areas] == [True, True, False, False]  # the legend names each cause once
    basic_voluntary, basic_involuntary = areas[:2]
    assert list(basic_voluntary.y) == [0.0, 0.10, 0.10]
    assert list(basic_involuntary.y) == pytest.approx([0.0, 0.10, 0.30])  # on voluntary: the top edge is all churn
    assert basic_involuntary.customdata[2].tolist() == [0.20, 0.12, 0.30]  # the hover reads the cause's own share
    assert basic_voluntary.line.shape == "hv" and basic_involuntary.fill == "tonexty"
    bands = [t for t in fig.data if not t.name and t.fill == "tonexty"]
    assert len(bands) == 4  # one 95% band per cause per panel
    assert list(bands[1].y) == pytest.approx([0.0, 0.10, 0.10 + 0.12])  # involuntary's lower limit, on voluntary
    assert fig.layout.yaxis.title.text == "Share of accounts churned (%)" and fig.layout.yaxis.tickformat == ".0%"
    assert fig.layout.xaxis.title.text == "Days since signup" and fig.layout.xaxis2.title.text == "Days since signup"
    assert [a.text for a in fig.layout.annotations] == ["Basic", "Pro"]  # one panel per segment level


def test_cause_chart_of_one_group_is_one_panel_and_lines_up_causes_on_their_days():
    frame = incidence_frame()
    one = frame[(frame.group == "Basic") & ~((frame.cause == "involuntary") & (frame.time_days == 30))]

    fig = charts.cause_incidence(one)

    assert "xaxis2" not in fig.layout.to_plotly_json() and not fig.layout.annotations
    involuntary = [t for t in fig.data if t.name == "involuntary"][0]
    # the cause without a day-30 row keeps its day-0 value there, so the stack stays a step function
    assert list(involuntary.x) == [0, 30, 90] and list(involuntary.y) == pytest.approx([0.0, 0.10, 0.30])
    assert charts.cause_incidence(frame.iloc[0:0]).layout.annotations[0].text.startswith("No churned accounts")


def test_cause_sentence_says_each_share_with_its_interval(reasons_db):
    model = CauseIncidence().fit(reasons_db[0])
    at = model.summary_.set_index(["cause", "horizon_days"])
    voluntary, involuntary = at.loc[("voluntary", 365)], at.loc[("involuntary", 365)]
    still = model.still_customer_.set_index("horizon_days").survival[365]

    sentence = survival_view.cause_sentence(model)

    assert sentence.startswith(f"By day 365, {voluntary.cumulative_incidence * 100:.0f}% "
                               f"({voluntary.ci_lower * 100:.0f}–{voluntary.ci_upper * 100:.0f}%) of accounts had "
                               "churned voluntarily, ")
    assert f"{involuntary.cumulative_incidence * 100:.0f}% ({involuntary.ci_lower * 100:.0f}–" in sentence
    assert "involuntarily" in sentence and "as “downgrade to free”" in sentence
    assert "with no reason given" in sentence
    assert sentence.endswith(f"and the share still a customer ({still * 100:.0f}%) add up to 100%.")


def test_cause_sentence_by_group_names_where_the_main_cause_is_highest_and_lowest(reasons_db):
    model = CauseIncidence(by="plan").fit(reasons_db[0])
    at = model.summary_[(model.summary_.horizon_days == 365) & (model.summary_.cause == "voluntary")]
    high = at.sort_values("cumulative_incidence").iloc[-1]

    sentence = survival_view.cause_sentence(model)

    assert model.counts_.groupby("cause").n_churned.sum().drop("unknown").idxmax() == "voluntary"
    assert sentence.startswith(f"By day 365, voluntary churn was highest for Plan {high.group}, at "
                               f"{high.cumulative_incidence * 100:.0f}%")
    assert "in each panel the causes and the share still a customer add up to 100%" in sentence


def test_cause_table_has_each_cause_and_the_still_customers(reasons_db):
    model = CauseIncidence(by="plan").fit(reasons_db[0])
    table = survival_view.cause_table(model)

    assert list(table.columns) == ["group", "cause", "accounts by as-of (churned from it, or still a customer)", "share by day 90 (95% CI)",
                                   "share by day 180 (95% CI)", "share by day 365 (95% CI)",
                                   "share by day 730 (95% CI)"]
    words = [cause_label(cause) for cause in CAUSES]  # the app's one label of each cause
    assert table.cause.tolist() == [*words, "Still a customer"] * 2
    still = table[(table.group == "Pro") & (table.cause == "Still a customer")].iloc[0]
    pro = model.group_summary_.set_index("group").loc["Pro"]
    assert still["accounts by as-of (churned from it, or still a customer)"] == f"{pro.n_accounts - pro.n_churned:,}"
    voluntary = table[(table.group == "Pro") & (table.cause == cause_label("voluntary"))].iloc[0]
    at_year = model.summary_.set_index(["group", "cause", "horizon_days"]).loc[("Pro", "voluntary", 365)]
    # one decimal in every row, so a column reads alike
    assert voluntary["share by day 365 (95% CI)"] == (f"{at_year.cumulative_incidence:.1%} ("
                                                      f"{at_year.ci_lower * 100:.1f}–{at_year.ci_upper:.1%})")
    assert survival_view.no_reasons_sentence(filtered=False) == (
        "This data has no churn reasons: add a churn_reason column to the accounts file to split churn by cause; "
        "see docs/data-contract.md.")


# --------------------------------------------------------------------------------------------
# The survival explorer's view, rendered headless (AppTest)
# --------------------------------------------------------------------------------------------


def test_app_churn_by_cause_view_draws_the_causes_of_each_plan(reasons_db, monkeypatch):
    con, path = reasons_db
    monkeypatch.setenv("RETENTION_DB", str(path))
    at = run_app("survival", query_params={"km_view": survival_view.CAUSE_VIEW, "km_by": "plan"})

    assert at.radio(key="km_view").value == survival_view.CAUSE_VIEW
    spec = json.loads(next(c for c in at.get("plotly_chart") if c.proto.id.endswith("-cause_chart")).proto.spec)
    legend = [t["name"] for t in spec["data"] if t.get("showlegend", True) and "name" in t]
    assert legend == [cause_label(cause) for cause in CAUSES]
    assert spec["layout"]["yaxis"]["title"]["text"] == "Share of accounts churned (%)"
    model = CauseIncidence(by="plan").fit(con)
    assert any(m.value == survival_view.cause_sentence(model) for m in at.markdown)
    table = next(d.value for d in at.dataframe if "cause" in d.value.columns)
    assert len(table) == 2 * (len(CAUSES) + 1)


def test_app_churn_by_cause_view_without_reasons_says_so_in_one_sentence(no_reasons_db, monkeypatch):
    monkeypatch.setenv("RETENTION_DB", str(no_reasons_db[1]))
    at = run_app("survival", query_params={"km_view": survival_view.CAUSE_VIEW})

    assert [i.value for i in at.info] == [survival_view.NO_REASONS_SENTENCE]
    assert not at.get("plotly_chart") and not at.dataframe and not page_failures(at)
