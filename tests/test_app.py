"""The Streamlit app driven headless with AppTest on the small demo database.

Numbers on screen are checked against SQL written here, on the same database, from the documented
meaning of each tile (docs/app.md and the tiles' help texts) rather than by calling the app's own
queries, so a wrong mart or a wrong wiring of filters shows up as a mismatch.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from conftest import APP_RUN_TIMEOUT as RUN_TIMEOUT, page_failures, run_app
from dashboard import data

PAGES = {
    "overview": "Overview",
    "survival": "Survival explorer",
    "drivers": "Service drivers",
    "investment": "Investment case",
    "evaluate": "Evaluate a change",
    "at_risk": "At-risk accounts",
    "data_page": "Data",
}


@pytest.fixture
def open_app(small_demo_database, monkeypatch):
    """open_app(page, query_params=None, db=None) -> an AppTest that has rendered `page`."""
    db_path, _ = small_demo_database

    def _open(page: str = "overview", query_params: dict | None = None, db: Path | None = None,
              check: bool = True) -> AppTest:
        monkeypatch.setenv("RETENTION_DB", str(db or db_path))
        return run_app(page, query_params, check=check)

    return _open


def expected_tiles(db, as_of: date, plan: str | None = None) -> dict[str, str]:
    """Active accounts, ARR and 12-month logo churn at as-of, from account_survival and the MRR history."""
    year_before = (pd.Timestamp(as_of) - pd.DateOffset(years=1)).date()
    active, arr = db.execute(
        """
        select count(*), 12 * sum(m.mrr)
        from account_survival as a
        left join stg_mrr_history as m
            on m.account_id = a.account_id and m.month_start = date_trunc('month', $as_of::date)
        where a.signup_date <= $as_of and (a.churn_date is null or a.churn_date > $as_of)
          and ($plan is null or a.plan = $plan)
        """, {"as_of": as_of, "plan": plan}).fetchone()
    (logo_churn,) = db.execute(
        """
        select avg(case when churn_date <= $as_of then 1.0 else 0.0 end)
        from account_survival
        where signup_date <= $year_before and (churn_date is null or churn_date > $year_before)
          and ($plan is null or plan = $plan)
        """, {"as_of": as_of, "year_before": year_before, "plan": plan}).fetchone()
    return {
        "Active accounts": f"{active:,}",
        "ARR": dollars(arr),
        "Logo churn (12 months)": f"{logo_churn * 100:.1f}%",
    }


def dollars(value: float) -> str:
    """The app's money format, spelled out here for the magnitudes the small demo produces."""
    if value >= 1e6:
        return f"${value / 1e6:.1f}M"
    return f"${value / 1e3:.1f}K"


def tiles(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def shown(at: AppTest, expected: dict[str, str]) -> dict[str, str]:
    return {label: tiles(at).get(label) for label in expected}


def frame_with(at: AppTest, column: str) -> pd.DataFrame:
    frames = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(frames) == 1, f"expected one table with a {column!r} column"
    return frames[0]


def plotly_specs(at: AppTest) -> dict[str, dict]:
    """Rendered plotly figures by their widget key (the element id ends with '-<key>')."""
    return {chart.proto.id.rsplit("-", 1)[-1]: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


@pytest.mark.parametrize("page", PAGES)
def test_app_page_renders_title_and_sidebar_as_of(open_app, as_of, page):
    at = open_app(page)

    assert [t.value for t in at.title] == [PAGES[page]]
    assert f"As of {as_of:%Y-%m-%d}" in at.sidebar.caption[0].value
    assert at.sidebar.multiselect(key="filter:plan").value == []


def test_app_overview_tiles_equal_sql(open_app, db, as_of):
    at = open_app("overview")

    expected = expected_tiles(db, as_of)
    assert shown(at, expected) == expected
    assert expected["ARR"] == "$6.0M"  # the small demo's ARR, so the format is exercised in millions
    assert len(at.metric) == 6
    assert "All accounts" in at.caption[0].value
    assert set(plotly_specs(at)) == {"forecast_active_accounts", "forecast_mrr", "retention_trend", "cohort_heatmap"}


def test_app_overview_shows_the_builds_forecast_and_forecasts_a_filter_on_request(open_app, db):
    """Without filters the overview shows the forecast the build stored, in the sentence the findings make of it;
    with a filter it shows none until asked, then the filtered accounts' own forecast."""
    from dashboard import findings
    from dashboard.labels import literal
    from pipelines.models.forecast import read_forecast

    at = open_app("overview")
    stored = literal(findings.forecast_sentence(read_forecast(db)))
    assert stored.startswith("By ") and any(m.value == stored for m in at.markdown)

    at.sidebar.multiselect(key="filter:plan").set_value(["Starter"]).run(timeout=RUN_TIMEOUT)
    assert not any(m.value.startswith("By ") for m in at.markdown)
    assert "forecast_mrr" not in plotly_specs(at)

    at.toggle(key="overview_forecast").set_value(True).run(timeout=RUN_TIMEOUT)
    assert not page_failures(at)
    shown = [m.value for m in at.markdown if m.value.startswith("By ")]
    assert len(shown) == 1 and shown[0] != stored
    assert {"forecast_active_accounts", "forecast_mrr"} <= set(plotly_specs(at))


def test_app_plan_filter_changes_overview_and_url(open_app, db, as_of):
    at = open_app("overview")
    everyone = tiles(at)

    at.sidebar.multiselect(key="filter:plan").set_value(["Starter"]).run(timeout=RUN_TIMEOUT)

    expected = expected_tiles(db, as_of, plan="Starter")
    assert not page_failures(at)
    assert shown(at, expected) == expected
    assert tiles(at)["Active accounts"] != everyone["Active accounts"]
    assert at.query_params == {"filter": "plan=Starter"}
    assert "Filters: Plan = Starter" in at.caption[0].value

    at.sidebar.multiselect(key="filter:plan").set_value([]).run(timeout=RUN_TIMEOUT)

    assert "filter" not in at.query_params
    assert tiles(at) == everyone


def bullet_blocks(at: AppTest) -> list[list[str]]:
    """Every bulleted list on the page, each as its lines."""
    return [[line.removeprefix("- ") for line in m.value.split("\n")] for m in at.markdown if m.value.startswith("- ")]


def test_app_overview_tells_one_story_whatever_the_filters_and_shows_a_refit_beside_it(open_app, db, monkeypatch):
    """The overview leads with the levers the build estimated on every account and keeps them, and each factor's
    own hazard ratio, when a filter changes (no refit: seconds at scale); the caption says the filters do not
    apply to them. The toggle refits the mutually adjusted model on the filtered accounts and shows it beside,
    labelled, not instead."""
    from dashboard import findings
    from pipelines.models.drivers import ServiceDrivers

    levers = findings.lever_findings(db.execute("select * from whatif_levers").df())
    own = findings.service_findings(db.execute("select * from factor_effects").df())
    at = open_app("overview")
    assert own in bullet_blocks(at)
    assert not levers or bullet_blocks(at)[0][:len(levers)] == levers
    assert len(at.toggle) == 0  # nothing to refit without filters

    fits = []
    original_fit = ServiceDrivers.fit
    monkeypatch.setattr(ServiceDrivers, "fit", lambda self, con: fits.append(self.filters) or original_fit(self, con))
    at.sidebar.multiselect(key="filter:plan").set_value(["Starter"]).run(timeout=RUN_TIMEOUT)

    assert own in bullet_blocks(at) and (not levers or bullet_blocks(at)[0][:len(levers)] == levers)
    assert any("fitted at build time on every account: the filters do not apply" in c.value for c in at.caption)
    assert fits == []

    at.toggle(key="overview_refit").set_value(True).run(timeout=RUN_TIMEOUT)

    assert not page_failures(at) and fits == [["plan=Starter"]]
    refitted = findings.service_findings(ServiceDrivers(filters=["plan=Starter"]).fit(db).effects_)
    assert own in bullet_blocks(at) and (not refitted or refitted in bullet_blocks(at))
    assert any("refitted on the filtered accounts" in m.value for m in at.markdown)


def test_app_overview_leads_with_the_levers_in_words_with_their_intervals(demo_database):
    """On the default demo halving first response is sure to keep accounts: the overview's first lines say how
    many and how much ARR, with intervals and what the estimate rests on, in words, not hazard ratios."""
    from dashboard import findings

    with duckdb.connect(str(demo_database[0]), read_only=True) as con:
        levers = con.execute("select * from whatif_levers").df()
    first = levers.set_index("factor").loc["first_response_hours"]
    assert first.accounts_kept_lower > 0 and first.typical_with_change == pytest.approx(first.typical_today / 2)
    sentence = findings.lever_sentence(levers[levers.factor == "first_response_hours"].iloc[0])
    assert sentence.startswith("Halving first response time (median ")
    assert f"would keep about {first.accounts_kept:,.0f} accounts ({first.accounts_kept_lower:,.0f}–" in sentence
    assert "over the next year, if plan, case mix and ticket volume are the confounders that matter" in sentence
    assert "hazard ratio" not in sentence
    assert sentence in findings.lever_findings(levers)


def test_app_refit_that_cannot_converge_is_said_not_a_page_error(open_app, monkeypatch):
    """A refit on a few filtered accounts whose Newton steps do not converge, even penalised, is a model that cannot
    be fitted on them: the overview keeps its tiles and says so; the drivers page names why. No error-id message."""
    from pipelines.models import drivers
    from pipelines.models.coxph import ConvergenceError

    def never_converges(self, *args, **kwargs):
        raise ConvergenceError("no convergence after 60 Newton steps")

    monkeypatch.setattr(drivers.TimeVaryingCox, "fit", never_converges)
    st.cache_data.clear()  # the refit of this filter may be cached by another test
    at = open_app("overview", query_params={"filter": ["plan=Starter"]})
    at.toggle(key="overview_refit").set_value(True).run(timeout=RUN_TIMEOUT)
    assert not page_failures(at), page_failures(at)
    assert any(m.label == "Active accounts" for m in at.metric)

    at = open_app("drivers", query_params={"filter": ["plan=Starter"]})
    at.toggle(key="drivers_refit").set_value(True).run(timeout=RUN_TIMEOUT)
    assert not page_failures(at), page_failures(at)
    assert any("cannot be fitted on these filtered accounts" in e.value for e in [*at.error, *at.warning, *at.info])


def test_app_filter_in_url_reproduces_the_view(open_app, db, as_of):
    at = open_app("overview", query_params={"filter": ["plan=Starter"]})

    expected = expected_tiles(db, as_of, plan="Starter")
    assert at.sidebar.multiselect(key="filter:plan").value == ["Starter"]
    assert shown(at, expected) == expected
    assert at.query_params == {"filter": "plan=Starter"}


def test_app_survival_split_by_plan_counts_accounts(open_app, db):
    at = open_app("survival")

    at.selectbox(key="km_by").set_value("plan").run(timeout=RUN_TIMEOUT)

    counts = {plan: f"{n:,}" for plan, n in db.execute("select plan, count(*) from account_survival group by plan").fetchall()}
    summary = frame_with(at, "accounts")
    assert not page_failures(at)
    assert dict(zip(summary["group"], summary["accounts"])) == counts
    curves = plotly_specs(at)["km_chart"]
    assert sorted(t["name"] for t in curves["data"] if t.get("showlegend", True) and "name" in t) == sorted(counts)


def test_app_survival_split_by_cohort_month_draws_the_8_largest_and_travels_in_the_link(open_app, db):
    """Signup cohort months are many groups: the chart starts with the 8 largest (the table keeps them all), the
    reader can pick others, and the split is in the URL, so a shared link opens the same view."""
    at = open_app("survival", query_params={"km_by": "signup_cohort_month"})
    assert not page_failures(at) and at.selectbox(key="km_by").value == "signup_cohort_month"
    sizes = db.execute("select strftime(signup_date, '%Y-%m') as m, count(*) as n from account_survival "
                       "group by m order by n desc, m").df()
    assert len(sizes) > 8 and len(frame_with(at, "accounts")) == len(sizes)
    picker = at.multiselect(key="km_groups:signup_cohort_month")
    assert len(picker.value) == 8 and set(picker.value) <= set(sizes.m.head(10))
    curves = plotly_specs(at)["km_chart"]
    assert len({t["name"] for t in curves["data"] if t.get("showlegend", True) and "name" in t}) == 8
    assert at.query_params["km_by"] == "signup_cohort_month"


def test_app_drivers_quartile_factor_travels_in_the_link(open_app):
    at = open_app("drivers", query_params={"quartile_factor": "reopen_rate"})
    assert not page_failures(at) and at.selectbox(key="quartile_factor").value == "reopen_rate"
    assert at.query_params["quartile_factor"] == "reopen_rate"
    at = open_app("drivers", query_params={"quartile_factor": "no_such_factor"})
    # a factor the page does not offer falls back to the first one, which the link then leaves out
    assert not page_failures(at) and at.selectbox(key="quartile_factor").index == 0
    assert "quartile_factor" not in at.query_params


def test_app_drivers_forest_plot_and_table(open_app, db):
    at = open_app("drivers")

    forest = plotly_specs(at)["forest"]
    assert forest["layout"]["xaxis"]["type"] == "log"
    rows = {term for trace in forest["data"] for term in trace["y"]}
    assert "first response time, per doubling of the median first response time" in rows
    assert not any("_" in row for row in rows)  # labels and units, never column names
    table = frame_with(at, "hazard_ratio").set_index("term")
    (stored,) = db.execute("select hazard_ratio from driver_effects where term = 'first_response_hours'").fetchone()
    assert table.loc["first_response_hours", "hazard_ratio"] == pytest.approx(stored, rel=1e-12)


def test_app_data_page_load_report_counts_file_rows(open_app, small_demo_database):
    _, demo = small_demo_database
    at = open_app("data_page")

    report = frame_with(at, "rows_read").set_index("source")
    for source, path in (("accounts", demo.accounts), ("interactions", demo.interactions),
                         ("mrr history", demo.mrr_history)):
        with open(path, newline="", encoding="utf-8") as handle:
            data_rows = sum(1 for _ in csv.reader(handle)) - 1  # csv.reader: a quoted line break stays one row
        assert report.loc[source, "rows_read"] == data_rows, source
    assert (report.rows_read == report.rows_loaded + report.rows_dropped).all()


@pytest.mark.parametrize("page", PAGES)
def test_app_missing_database_shows_guidance(open_app, tmp_path, page):
    missing = tmp_path / "nowhere.duckdb"
    at = open_app(page, db=missing)

    guidance = " ".join(i.value for i in at.info)
    assert f"No database at `{missing}`" in guidance
    assert "make run" in guidance
    assert len(at.sidebar.selectbox) == 0  # no filters without a build
    assert not missing.exists()  # the app reads; it never creates an empty database


# Accounts signed up in the last two months of the small demo: active, but none has churned yet.
NO_CHURN_YET = {"filter": ["signup_cohort_month>=2026-05"]}
NO_CHURN_BUG = ("pipelines/models/drivers.py ServiceDrivers.fit retries a 'no events' ConvergenceError (a RuntimeError) "
                "with a penalizer, which fails the same way; drivers.py catches only ValueError and overview.py "
                "catches nothing, so the page shows a traceback")


def test_app_overview_filter_without_churn_still_shows_tiles(open_app, db, as_of):
    at = open_app("overview", query_params=NO_CHURN_YET, check=False)

    (recent,) = db.execute("select count(*) from account_survival where signup_cohort_month >= '2026-05-01' "
                           "and churned = 0").fetchone()
    assert not page_failures(at)
    assert tiles(at)["Active accounts"] == f"{recent:,}"


def test_app_drivers_filter_without_churn_explains_why(open_app):
    at = open_app("drivers", query_params=NO_CHURN_YET, check=False)
    assert not page_failures(at) and not at.warning  # the build's fit on every account needs no churn among these

    at.toggle(key="drivers_refit").set_value(True).run(timeout=RUN_TIMEOUT)

    assert not page_failures(at)
    assert "cannot be fitted" in " ".join(w.value for w in at.warning)


def test_app_unfiltered_kpi_marts_are_the_builds_stored_tables(db, as_of):
    """Without filters the overview reads the marts the build stored instead of running them again; they must
    equal the mart SQL run now on every account at the build's as-of (row order included)."""
    from pipelines.sqlrun import sql_text

    for read, mart in ((data.kpi_monthly, "kpi_monthly"), (data.cohort_retention, "cohort_retention")):
        stored = read(db, (), as_of)
        recomputed = data.run(db, sql_text("40_marts", mart), {"as_of": as_of})
        assert len(stored) > 0
        pd.testing.assert_frame_equal(stored, recomputed, check_exact=False, rtol=1e-12)
        # any other as-of is computed, not read
        earlier = (pd.Timestamp(as_of) - pd.DateOffset(months=3)).date()
        assert not data._is_whole_build(db, (), earlier)
        assert data._is_whole_build(db, (), as_of) and not data._is_whole_build(db, ("plan=Starter",), as_of)


@pytest.mark.parametrize("filters, looked_up", [
    (("plan=Starter",), True),
    (("plan=Starter", "region=EMEA"), True),
    (("plan!=Starter", "signup_cohort_month>=2024-01", "signup_cohort_month<=2024-06"), True),
    (("mrr>100",), False),  # a numeric column: the cells are not made of it
    (("plan=Starter", "signup_year=2024"), False),
])
def test_filtered_overview_from_the_stored_cells_equals_the_filtered_accounts_counted(db, as_of, monkeypatch,
                                                                                     filters, looked_up):
    """A filter on the sidebar's columns reads the sums the build stored per segment cell (the monthly KPIs, the
    cohorts and the headline); they must give what counting the filtered accounts gives (the path any other filter
    takes)."""
    from pipelines.filters import filterable_columns, parse_filters

    parsed = parse_filters(list(filters), filterable_columns(db))
    assert data.cells_answer(parsed, data.cell_columns(db)) is looked_up
    marts = (data.kpi_monthly, data.cohort_retention, data.headline_kpis)
    from_cells = [read(db, filters, as_of) for read in marts]
    monkeypatch.setattr(data, "cells_answer", lambda *args: False)
    counted = [read(db, filters, as_of) for read in marts]
    assert from_cells[0].accounts_at_start.sum() > 0 and from_cells[1].cohort_accounts.sum() > 0
    assert from_cells[2].loc["as_of"].active_accounts > 0
    for stored, recounted in zip(from_cells, counted):
        pd.testing.assert_frame_equal(stored, recounted, check_exact=False, rtol=1e-12)


def drivers_caption(at: AppTest) -> str:
    (caption,) = [c.value for c in at.caption if c.value.startswith("One model with every factor in it")]
    return caption


def test_app_drivers_filter_change_shows_the_builds_fit_and_refits_only_when_asked(open_app, db, monkeypatch):
    """A filter change on the drivers page does not refit the mutually adjusted model (seconds at scale): it shows
    the build's stored fit on every account, exactly, and says so. The toggle refits on the filtered accounts."""
    import streamlit as st

    from pipelines.models.drivers import ServiceDrivers

    cold = ServiceDrivers(filters=["plan=Starter"]).fit(db)  # from zero, before fits are recorded
    st.cache_data.clear()  # another test's refit of this filter would be a cache hit here, not a fit
    at = open_app("drivers")
    assert len(at.toggle) == 0  # nothing to refit without filters
    assert drivers_caption(at).endswith("so it is not the effect of improving that factor.")

    fits = []
    original_fit = ServiceDrivers.fit
    monkeypatch.setattr(ServiceDrivers, "fit", lambda self, con: fits.append(self.filters) or original_fit(self, con))
    at.sidebar.multiselect(key="filter:plan").set_value(["Starter"]).run(timeout=RUN_TIMEOUT)

    assert not page_failures(at) and fits == []
    stored = db.execute("select term, hazard_ratio, ci_lower, ci_upper from driver_effects").df().set_index("term")
    table = frame_with(at, "hazard_ratio").set_index("term")
    pd.testing.assert_frame_equal(table[stored.columns].loc[stored.index], stored, check_exact=True)
    assert "Fitted at build time on every account of the company: the filters do not apply to this model" in drivers_caption(at)
    assert "The quartile chart below is of the filtered accounts" in drivers_caption(at)

    at.toggle(key="drivers_refit").set_value(True).run(timeout=RUN_TIMEOUT)

    assert not page_failures(at) and fits == [["plan=Starter"]]
    table = frame_with(at, "hazard_ratio").set_index("term")
    expected = cold.effects_.set_index("term")[["hazard_ratio", "ci_lower", "ci_upper"]]
    assert sorted(table.index) == sorted(expected.index) and not any(t.startswith("plan=") for t in table.index)
    # the refit starts Newton from the build's coefficients and stops at the same optimum as a start from zero
    pd.testing.assert_frame_equal(table[expected.columns].loc[expected.index], expected, check_exact=False,
                                  rtol=1e-8, atol=0)
    info = cold.model_info_
    assert (f"Refitted on the filtered accounts ({info['n_accounts']:,} accounts, {info['n_events']:,} churns): "
            "an exact fit to convergence") in drivers_caption(at)

    at.sidebar.multiselect(key="filter:plan").set_value([]).run(timeout=RUN_TIMEOUT)
    assert len(at.toggle) == 0 and fits == [["plan=Starter"]]
    table = frame_with(at, "hazard_ratio").set_index("term")
    assert table.loc["first_response_hours", "hazard_ratio"] == stored.loc["first_response_hours", "hazard_ratio"]


def test_app_filtered_drivers_start_from_the_builds_fit_and_equal_a_fit_from_zero(db):
    """The refit the toggle asks for starts Newton from the build's stored coefficients and reaches the fit started
    from zero: the same terms and events, hazard ratios equal to 1e-8 (relative; both stop at a step below 1e-10)."""
    from pipelines.models.drivers import ServiceDrivers

    build_id = db.execute("select build_id from build_info").fetchone()[0]
    effects, model = data.drivers_fit(db, build_id, ("plan=Starter",), refit=True)
    cold = ServiceDrivers(filters=["plan=Starter"]).fit(db)
    assert model["warm_start"] and not cold.model_info_["warm_start"]
    # never more steps than from zero; how many fewer depends on how far the subset's fit lies from the build's
    assert model["n_events"] == cold.model_info_["n_events"] and model["iterations"] <= cold.model_info_["iterations"]
    pd.testing.assert_series_equal(effects.set_index("term").hazard_ratio,
                                   cold.effects_.set_index("term").hazard_ratio, check_exact=False, rtol=1e-8, atol=0)
    stored, stored_model = data.drivers_fit(db, build_id, ("plan=Starter",), refit=False)
    assert stored_model["filters"] == [] and len(stored) == db.execute("select count(*) from driver_effects").fetchone()[0]


def test_app_filtered_refit_above_the_cap_is_a_stated_sample(db, monkeypatch):
    """Above APP_REFIT_ACCOUNTS filtered accounts the app fits a seeded sample of them and says so."""
    n_starter = db.execute("select count(*) from account_survival where plan = 'Starter'").fetchone()[0]
    monkeypatch.setattr(data, "APP_REFIT_ACCOUNTS", n_starter // 2)
    effects, model = data.driver_effects(db, ("plan=Starter",))
    assert model["sample"] == {"accounts_total": n_starter, "accounts_fitted": n_starter // 2, "seed": 7}
    assert any(f"random sample of {n_starter // 2:,} of the {n_starter:,} accounts" in n for n in model["notes"])
    assert len(effects) > 0


def test_app_drivers_page_shows_each_factors_own_model_with_its_adjustment_set(open_app, db):
    at = open_app("drivers")

    table = frame_with(at, "E-value").set_index("factor")
    hr, e_value = db.execute(
        "select hazard_ratio, e_value from factor_effects where factor = 'first_response_hours'").fetchone()
    row = table.loc["first response time"]
    assert row["hazard ratio"] == round(hr, 2) and row["E-value"] == round(e_value, 2)
    assert "SLA breach rate" in row["consequences, not adjusted for"]
    # what every factor is adjusted for is said once above the table; each row lists the rest of its own set
    sentence = next(m.value for m in at.markdown if m.value.startswith("Every factor below is adjusted for"))
    shared = set(sentence.split("**")[1].replace(" and ", ", ").split(", "))
    assert "share of urgent or high tickets" in shared
    for factor, words in (("first_response_hours", "first response time"), ("resolution_hours", "resolution time")):
        (adjusted,) = db.execute("select adjusted_for from factor_effects where factor = ?", [factor]).fetchone()
        rest = table.loc[words, "also adjusted for"]
        assert shared | (set() if rest == "nothing else" else set(rest.split(", "))) == set(adjusted.split(", "))
    revenue = frame_with(at, "expansion: change in monthly chance (pp)").set_index("factor")
    (effect,) = db.execute("select effect_pp from factor_revenue_effects where factor = 'first_response_hours' "
                           "and outcome = 'expansion'").fetchone()
    assert revenue.loc["first response time", "expansion: change in monthly chance (pp)"].startswith(f"{effect:+.2f}")
    stability = frame_with(at, "+ case mix and volume")
    assert list(stability.columns) == ["factor", "unadjusted", "+ plan and segments", "+ case mix and volume",
                                       "+ upstream service factors"]
    # the structure the effects rest on is named, and an uncertain order is shown both ways in words
    assert any("follows the built-in causal structure" in c.value for c in at.caption)
    assert "Where the order of two factors is uncertain" in [h.value for h in at.subheader]
    (resolution_first,) = db.execute("select hazard_ratio from factor_orderings where factor = 'resolution_hours' "
                                     "and is_structure_used").fetchone()
    paragraph = next(m.value for m in at.markdown if m.value.startswith("**Resolution time and reopen rate**"))
    assert f"hazard ratio {resolution_first:.2f} (" in paragraph and "with reopen rate before resolution time" in paragraph


def test_app_investment_case_uses_the_factors_own_model_and_says_what_it_rests_on(open_app, small_demo_database):
    from pipelines.models.factor_effects import stored_factor_model
    from pipelines.models.whatif import WhatIf

    at = open_app("investment")

    with duckdb.connect() as con:
        con.execute("attach $path as f (read_only)", {"path": str(small_demo_database[0])})
        con.execute("use f")
        expected = WhatIf([("first_response_hours", "-50%")], n_draws=10).fit(
            con, drivers=stored_factor_model(con, "first_response_hours"))
        adjusted_for, e_value = con.execute(
            "select adjusted_for, e_value from factor_effects where factor = 'first_response_hours'").fetchone()
    assert tiles(at)["Accounts kept"] == f"{expected.result_['accounts_kept']['estimate']:,.1f}"
    evidence = " ".join(i.value for i in at.info)
    assert "estimated effect if the listed confounders are the important ones" in evidence
    assert f"Adjusted for {adjusted_for}" in evidence and f"E-value {e_value:.2f}" in evidence
    assert "proof" not in evidence.lower()
    overlap = frame_with(at, "share outside")
    assert overlap["factor"].tolist() == ["First response time"]
    assert overlap["accounts the change applies to"].iloc[0] == expected.overlap_[0]["accounts"]
    assert frame_with(at, "+ case mix and volume")["factor"].tolist() == ["first response time"]


def test_app_investment_case_puts_the_change_on_the_forecast_when_asked(open_app, db):
    """The toggle draws the forecast of active accounts with and without the change and says in a sentence what the
    change adds by the forecast's end; the accounts it keeps by then are at least what the what-if keeps in its
    year among today's accounts alone (new accounts keep some too)."""
    at = open_app("investment")
    assert "forecast_with_change" not in plotly_specs(at)

    at.toggle(key="inv_forecast").set_value(True).run(timeout=RUN_TIMEOUT)
    assert not page_failures(at)
    figure = plotly_specs(at)["forecast_with_change"]
    assert {"With the change", "Forecast, all accounts"} <= {trace.get("name") for trace in figure["data"]}
    sentence = next(m.value for m in at.markdown if m.value.startswith("With the change, by "))
    more = float(sentence.split("about ")[1].split(" more accounts")[0].replace(",", ""))
    assert more >= 0.8 * float(tiles(at)["Accounts kept"].replace(",", ""))


def test_app_investment_choices_travel_in_a_shared_link(open_app):
    """A shared link reproduces the case (factors, target, horizon, cost); a value the page cannot use falls back
    to its default; no cost is assumed until one is entered."""
    at = open_app("investment", query_params={"inv_factors": ["first_response_hours", "csat"],
                                              "inv_first_response_hours": "-30", "inv_csat": "nonsense",
                                              "inv_horizon": "730", "inv_cost": "150000"})
    assert not page_failures(at)
    assert at.multiselect(key="inv_factors").value == ["first_response_hours", "csat"]
    assert at.slider(key="inv_first_response_hours").value == -30
    assert at.slider(key="inv_csat").value == 0.5  # the lever's default
    assert at.select_slider(key="inv_horizon").value == 730 and at.number_input(key="inv_cost").value == 150_000
    shown = tiles(at)
    assert shown["ROI over 730 days"] != "—" and "Revenue kept in 730 days" in shown
    assert at.query_params["inv_horizon"] == "730" and at.query_params["inv_first_response_hours"] == "-30"
    assert "inv_csat" not in at.query_params  # at its default, left out of the link

    at = open_app("investment")
    assert at.number_input(key="inv_cost").value is None
    assert {t: v for t, v in tiles(at).items() if t in ("ROI", "Payback")} == {"ROI": "—", "Payback": "—"}
    assert any("enter the yearly cost" in c.value for c in at.caption)


def _calibration_words(db, model: str, horizon: int) -> tuple[str, bool]:
    predicted, happened, within = db.execute(
        "select predicted_churned, n_churned, within_range from model_calibration where model = ? and "
        "horizon_days = ? and decile is null", [model, horizon]).fetchone()
    return f"the model predicted {predicted:,.0f} churns in the next {horizon} days", within, happened


def test_app_investment_case_shows_its_models_calibration_check_with_the_money(open_app, db):
    """The check of the first-response outcome model at the horizon chosen (365 days by default) is on the page: a
    warning when what happened fell outside the range chance allows, a caption when inside."""
    at = open_app("investment")
    said, within, happened = _calibration_words(db, "first_response_hours", 365)
    shown = [c.value for c in (at.caption if within else at.warning) if said in c.value]
    assert len(shown) == 1 and f"{happened:,} happened" in shown[0]
    assert "Calibration check of the model behind these figures (365-day horizon" in shown[0]


def test_app_at_risk_page_shows_the_risk_models_checks_at_both_horizons(open_app, db):
    at = open_app("at_risk")
    for horizon in (90, 365):
        said, within, happened = _calibration_words(db, "risk", horizon)
        assert [c.value for c in (at.caption if within else at.warning) if said in c.value], horizon
    assert any("concordance" in c.value for c in at.caption)


def test_app_data_page_sets_the_demo_investment_case_beside_its_truth(open_app, small_demo_database):
    _, demo = small_demo_database
    truth = json.loads(Path(demo.planted_effects).read_text())["true_whatif"][0]

    at = open_app("data_page")
    at.toggle(key="demo_truth_comparison").set_value(True).run(timeout=RUN_TIMEOUT)

    table = frame_with(at, "truth (from the demo's own hazards)").set_index("quantity")
    assert table.loc["accounts kept", "truth (from the demo's own hazards)"] == round(truth["accounts_kept"], 1)
    assert table.loc["ARR kept ($)", "truth (from the demo's own hazards)"] == round(truth["arr_kept"], 1)
    assert {"naive: no case mix, consequences held fixed", "adjusted: the factor's own model"} <= set(table.columns)


def test_app_at_risk_totals_cover_every_scored_account_and_the_list_its_riskiest(open_app, db, monkeypatch):
    """The tiles sum over every scored account of the filter, the list holds the riskiest few hundred (the page
    reads no more), and the download holds them all, riskiest first."""
    monkeypatch.setattr(data, "RISK_LIST_MAX", 40)  # the small demo has fewer active Starter accounts than 500
    at = open_app("at_risk", query_params={"filter": ["plan=Starter"]})
    scored, churns, arr = db.execute(
        "select count(*), sum(churn_probability_90d), sum(churn_probability_90d * 12 * mrr) from account_risk "
        "where account_id in (select account_id from account_survival where plan = 'Starter')").fetchone()
    assert scored > 40
    assert tiles(at) == {"Active accounts scored": f"{scored:,}", "Expected churns in 90 days": f"{churns:,.0f}",
                         "ARR at risk": dollars(arr)}
    riskiest = [r[0] for r in db.execute(
        "select account_id from account_risk where account_id in (select account_id from account_survival "
        "where plan = 'Starter') order by churn_probability_90d desc limit 40").fetchall()]
    assert at.slider(key="risk_top").max == 40
    at.slider(key="risk_top").set_value(40).run(timeout=RUN_TIMEOUT)
    assert frame_with(at, "risk_rank").account_id.tolist() == riskiest

    # the page makes the file when its button is clicked, from the scope and filters captured in the session
    exported = data.risk_csv.captured(db, ("plan=Starter",))().decode("utf-8").splitlines()
    rows = list(csv.DictReader(exported))
    assert len(rows) == scored and [r["account_id"] for r in rows[:40]] == riskiest
    probabilities = [float(r["churn_probability_90d"]) for r in rows]
    assert probabilities == sorted(probabilities, reverse=True)
