"""Churn by cause on the overview and the drivers page: the pure builders on literal frames, and the pages driven
with AppTest on a demo whose accounts give churn reasons (and on the small demo, which gives none).

The pages' numbers are checked against SQL written here from the documented meaning (a churn counts in the month
its date falls in, a churn on the 1st in the month before; the last 12 complete months before the as-of month), and
against the build's stored cause models, not by calling the app's own builders."""

from __future__ import annotations

import json
import re
from datetime import date

import duckdb
import pandas as pd
import pytest

from conftest import run_app
from dashboard import charts, drivers_view, findings
from dashboard.findings import LAST_YEAR, NO_CHURN_REASONS, YEAR_EARLIER
from dashboard.labels import cause_label, cause_short_label, cause_sort_key


def months(first: str, n: int, partial_last: bool = True) -> pd.DataFrame:
    """kpi_monthly's calendar: n months from `first`, the last one not over when `partial_last`."""
    starts = pd.date_range(first, periods=n, freq="MS")
    return pd.DataFrame({"month_start": starts.date, "is_partial_month": [partial_last and i == n - 1
                                                                          for i in range(n)]})


def cause_rows(rows: list[tuple[str, str, int, float]]) -> pd.DataFrame:
    """kpi_monthly_causes rows: (month, cause, churned accounts, churned MRR)."""
    return pd.DataFrame([{"month_start": date.fromisoformat(m), "churn_cause": c, "churned_accounts": n,
                          "churned_from_start": n, "churned_mrr": mrr} for m, c, n, mrr in rows])


# 2024-07 .. 2026-07, July 2026 not over: the last 12 complete months are 2025-07 .. 2026-06, the year earlier
# 2024-07 .. 2025-06
CALENDAR = months("2024-07-01", 25)
CAUSES = cause_rows([
    ("2024-06-01", "voluntary", 50, 5000.0),     # before both periods: never counted
    ("2024-07-01", "voluntary", 6, 600.0),       # the year earlier's first month
    ("2025-06-01", "involuntary", 4, 400.0),     # the year earlier's last month
    ("2025-07-01", "voluntary", 3, 300.0),       # the last 12 months' first month
    ("2026-01-01", "involuntary", 2, 31200.0),
    ("2026-06-01", "voluntary", 4, 450.0),       # the last complete month
    ("2026-06-01", "unknown", 1, 10.0),
    ("2026-07-01", "involuntary", 9, 9000.0),    # the month not over: left out
])


def test_churn_by_cause_counts_the_last_12_complete_months_against_the_12_before():
    split = findings.churn_by_cause(CALENDAR, CAUSES)

    assert split.compared
    assert (split.first_month, split.last_month) == (pd.Timestamp("2025-07-01"), pd.Timestamp("2026-06-01"))
    got = {(r.churn_cause, r.period): (r.churned_accounts, r.churned_mrr) for r in split.totals.itertuples()}
    assert got == {
        ("voluntary", LAST_YEAR): (7, 750.0), ("voluntary", YEAR_EARLIER): (6, 600.0),
        ("involuntary", LAST_YEAR): (2, 31200.0), ("involuntary", YEAR_EARLIER): (4, 400.0),
        ("unknown", LAST_YEAR): (1, 10.0), ("unknown", YEAR_EARLIER): (0, 0.0),
    }
    assert list(dict.fromkeys(split.totals.churn_cause)) == ["voluntary", "involuntary", "unknown"]


def test_churn_by_cause_without_a_whole_year_earlier_has_no_comparison():
    split = findings.churn_by_cause(months("2025-03-01", 17), CAUSES)

    assert not split.compared
    assert set(split.totals.period) == {LAST_YEAR}
    assert "so there is no comparison" in findings.cause_periods_caption(split)
    assert "a year earlier" not in findings.cause_sentence(split)
    assert "Churned accounts, a year earlier" not in findings.cause_table(split).columns


def test_churn_by_cause_before_any_month_is_over_is_none():
    assert findings.churn_by_cause(months("2026-07-01", 1), CAUSES) is None
    assert findings.cause_sentence(None) == "No month is over yet, so there is no year of churn to split by cause."


def test_cause_sentence_gives_shares_against_a_year_earlier_and_what_involuntary_churn_cost():
    sentence = findings.cause_sentence(findings.churn_by_cause(CALENDAR, CAUSES))

    assert sentence == ("In the 12 months to June 2026, 10 accounts churned: 70% voluntarily (a year earlier 60%), "
                        "20% involuntarily (40%) and 10% with no reason given (0%); involuntary churn — failed "
                        "payments, which support cannot prevent — cost $31.2K of MRR (a year earlier $400).")


def test_cause_sentence_without_reasons_says_why_churn_is_not_split():
    assert findings.cause_sentence(None, has_reasons=False) == NO_CHURN_REASONS
    assert "`churn_reason` column" in NO_CHURN_REASONS and "docs/data-contract.md" in NO_CHURN_REASONS


def test_cause_sentence_names_an_analysts_cause_and_a_year_without_churn():
    calendar = months("2024-07-01", 25)
    own = findings.churn_by_cause(calendar, cause_rows([("2026-02-01", "downgrade_to_free", 3, 90.0),
                                                        ("2026-03-01", "voluntary", 1, 10.0)]))
    assert findings.cause_sentence(own) == ("In the 12 months to June 2026, 4 accounts churned: 25% voluntarily "
                                            "and 75% counted as downgrade to free.")
    quiet = findings.churn_by_cause(calendar, cause_rows([("2025-01-01", "voluntary", 5, 10.0)]))
    assert findings.cause_sentence(quiet) == "In the 12 months to June 2026, no account churned (a year earlier 5)."


def test_cause_table_formats_counts_money_and_the_change_with_labels():
    calendar = months("2024-07-01", 25)
    big = cause_rows([("2025-01-01", "voluntary", 1000, 100000.0), ("2026-01-01", "voluntary", 1250, 91250.5),
                      ("2026-02-01", "involuntary", 3, 1200.0)])
    table = findings.cause_table(findings.churn_by_cause(calendar, big)).set_index("Cause")

    assert list(table.index) == ["Voluntary (customer chose to leave)", "Involuntary (payment failed)", "All churn"]
    assert table.loc["Voluntary (customer chose to leave)"].to_dict() == {
        "Churned accounts, last 12 months": "1,250", "Share of churned accounts": "100%",
        "Churned accounts, a year earlier": "1,000", "Change in churned accounts": "+250 (+25%)",
        "Churned MRR, last 12 months": "$91,250", "Churned MRR, a year earlier": "$100,000",
        "Change in churned MRR": "-$8,750 (-9%)"}
    assert table.loc["Involuntary (payment failed)", "Change in churned accounts"] == "+3 (none a year earlier)"
    assert table.loc["All churn", "Churned accounts, last 12 months"] == "1,253"
    assert table.loc["All churn", "Churned MRR, last 12 months"] == "$92,450"


def test_churn_by_cause_chart_draws_each_period_per_cause_in_two_panels():
    split = findings.churn_by_cause(CALENDAR, CAUSES)
    fig = charts.churn_by_cause(split.totals, labels=split.labels)

    bars = {(trace.name, trace.yaxis): list(trace.y) for trace in fig.data}
    assert bars == {(YEAR_EARLIER, "y"): [6, 4, 0], (LAST_YEAR, "y"): [7, 2, 1],
                    (YEAR_EARLIER, "y2"): [600.0, 400.0, 0.0], (LAST_YEAR, "y2"): [750.0, 31200.0, 10.0]}
    assert [t.marker.color for t in fig.data if t.yaxis == "y"] == [charts.EARLIER_PERIOD_COLOR, charts.PALETTE[0]]
    assert [name.replace("<br>", " ") for name in fig.data[0].x] == [
        "Voluntary (customer chose to leave)", "Involuntary (payment failed)", "Unknown (no reason given)"]
    assert fig.layout.yaxis2.title.text == "Churned MRR ($)" and fig.layout.yaxis2.tickprefix == "$"
    assert sum(t.showlegend for t in fig.data) == 2  # one legend entry per period
    assert fig.layout.barmode == "group"


def test_churn_by_cause_chart_of_no_churn_says_so():
    fig = charts.churn_by_cause(pd.DataFrame(columns=["churn_cause", "period", "churned_accounts", "churned_mrr"]))
    assert fig.layout.annotations[0].text == "No churned accounts in these months."


def test_cause_labels_name_the_known_causes_and_title_case_the_rest():
    assert cause_label("voluntary") == "Voluntary (customer chose to leave)"
    assert cause_label("involuntary") == "Involuntary (payment failed)"
    assert cause_label("unknown") == "Unknown (no reason given)"
    assert cause_label("downgrade_to_free") == "Downgrade To Free"
    assert cause_short_label("involuntary") == "involuntary"
    assert sorted(["unknown", "zz", "involuntary", "aa", "voluntary"], key=cause_sort_key) == [
        "voluntary", "involuntary", "aa", "zz", "unknown"]


# --- the drivers page's builders -------------------------------------------------------------------

EFFECT_COLUMNS = ["factor", "term", "label", "unit", "hazard_ratio", "ci_lower", "ci_upper", "p_value",
                  "adjusted_for", "not_adjusted_for", "e_value", "e_value_ci"]
FIRST_RESPONSE = ("first_response_hours", "first_response_hours", "first response time",
                  "per doubling of the median first response time")
REOPEN = ("reopen_rate", "reopen_rate", "reopen rate", "per +10 percentage points")
ADJUSTED = "plan, ticket volume"


def effect(names: tuple, hr: float, lo: float, hi: float, adjusted: str = ADJUSTED, e: float = 1.5,
           e_ci: float = 1.2, cause: str | None = None) -> dict:
    row = dict(zip(EFFECT_COLUMNS, [*names, hr, lo, hi, 0.01, adjusted, "SLA breach rate", e, e_ci]))
    return row if cause is None else {"churn_cause": cause, **row}


OWN = pd.DataFrame([effect(FIRST_RESPONSE, 1.18, 1.05, 1.32), effect(REOPEN, 1.17, 1.12, 1.23, ADJUSTED
                                                                       + ", resolution time")])
BY_CAUSE = pd.DataFrame([
    effect(FIRST_RESPONSE, 1.29, 1.21, 1.38, e=1.9, e_ci=1.7, cause="voluntary"),
    effect(REOPEN, 1.12, 0.97, 1.29, ADJUSTED + ", resolution time", cause="voluntary"),
    effect(FIRST_RESPONSE, 1.02, 0.91, 1.15, e=1.2, e_ci=1.0, cause="involuntary"),
    effect(REOPEN, 0.80, 0.70, 0.91, ADJUSTED + ", resolution time", cause="involuntary"),
])


def test_cause_comparison_table_puts_all_churn_and_each_cause_side_by_side():
    table = drivers_view.cause_comparison_table(OWN, BY_CAUSE, ["voluntary", "involuntary"]).set_index("factor")

    assert list(table.columns) == [
        "unit", "All churn: hazard ratio (95% CI)", "All churn: E-value (for the CI)",
        "Voluntary churn: hazard ratio (95% CI)", "Voluntary churn: E-value (for the CI)",
        "Involuntary churn: hazard ratio (95% CI)", "Involuntary churn: E-value (for the CI)", "also adjusted for"]
    first = table.loc["first response time"]
    assert first["Voluntary churn: hazard ratio (95% CI)"] == "1.29 (1.21 – 1.38)"
    assert first["Voluntary churn: E-value (for the CI)"] == "1.90 (1.70)"
    assert first["Involuntary churn: hazard ratio (95% CI)"] == "1.02 (0.91 – 1.15)"
    assert first["All churn: hazard ratio (95% CI)"] == "1.18 (1.05 – 1.32)"
    # what every factor is adjusted for is said once on the page; a row lists the rest
    assert first["also adjusted for"] == "nothing else"
    assert table.loc["reopen rate", "also adjusted for"] == "resolution time"


def test_cause_comparison_table_marks_a_term_a_cause_model_lacks():
    table = drivers_view.cause_comparison_table(OWN, BY_CAUSE[BY_CAUSE.term != "reopen_rate"], ["voluntary"])
    assert table.set_index("factor").loc["reopen rate", "Voluntary churn: hazard ratio (95% CI)"] == "—"


def test_cause_contrast_sentences_come_from_the_numbers_strongest_first():
    sentences = drivers_view.cause_contrast_sentences(BY_CAUSE, ["voluntary", "involuntary"])

    assert sentences == [
        "Accounts whose median first response time doubled had more voluntary churn (hazard ratio 1.29, 95% "
        "interval 1.21–1.38) and no clear change in involuntary churn (1.02, 0.91–1.15): a link with the churn "
        "customers choose, not with failed payments.",
        "Each 10-point rise in the reopen rate went with no clear change in voluntary churn (hazard ratio 1.12, 95% "
        "interval 0.97–1.29) and less involuntary churn (0.80, 0.70–0.91).",
    ]


def test_cause_contrast_sentences_say_the_contrast_once_and_when_nothing_is_clear():
    doubled = pd.concat([BY_CAUSE, BY_CAUSE[BY_CAUSE.term == "first_response_hours"].assign(
        term="resolution_hours", factor="resolution_hours")], ignore_index=True)
    sentences = drivers_view.cause_contrast_sentences(doubled, ["voluntary", "involuntary"])
    assert sum("not with failed payments" in s for s in sentences) == 1

    unclear = BY_CAUSE.assign(ci_lower=0.5, ci_upper=2.0)
    assert drivers_view.cause_contrast_sentences(unclear, ["voluntary", "involuntary"]) == [
        "No service factor has a clear link with churn from any one cause in these data: every 95% interval "
        "includes 1 (no association)."]


def test_cause_models_note_says_why_there_are_no_models_by_cause():
    assert drivers_view.cause_models_note(None, has_reasons=False) == NO_CHURN_REASONS
    assert drivers_view.cause_models_note({"causes": ["voluntary"]}, has_reasons=True) is None
    few = {"causes": [], "churned_accounts": {"voluntary": 12, "involuntary": 4, "unknown": 2}, "notes": []}
    assert drivers_view.cause_models_note(few, has_reasons=True) == (
        "No churn cause has the 30 churned accounts a model of its own needs (12 voluntary and 4 involuntary "
        "churned accounts), so churn is modelled as a whole only.")
    failed = {"causes": [], "error": "the models were not fitted (--no-models)"}
    assert drivers_view.cause_models_note(failed, has_reasons=True) == (
        "Churn is not modelled by cause in this build: the models were not fitted (--no-models).")


def test_cause_counts_sentence_names_what_each_model_rests_on():
    info = {"causes": ["voluntary", "involuntary"],
            "churned_accounts": {"voluntary": 1193, "involuntary": 86, "unknown": 7}}
    assert drivers_view.cause_counts_sentence(info) == (
        "The models of each cause rest on 1,193 voluntary and 86 involuntary churned accounts; 7 churns with no "
        "reason given are too few for a model of their own and count as leaving the data in these. They were "
        "fitted at build time on every account of the company.")


def test_cause_effects_rows_carry_pillar_and_label_for_the_forest_plot():
    rows = drivers_view.cause_effects_rows(BY_CAUSE, "involuntary")
    assert list(rows.pillar) == ["quick", "complete resolution"]
    assert rows.label[0] == "first response time, per doubling of the median first response time"
    fig = charts.forest_plot(rows, y="label")
    assert sorted(x for trace in fig.data for x in trace.x) == [0.80, 1.02]


# --- the pages -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reasons_database(tmp_path_factory):
    """A 600-account demo in which about 30% of churn is involuntary and every churn gives its reason (a few none),
    built once for this module."""
    from pipelines.build import build_database
    from pipelines.demo import generate_demo

    folder = tmp_path_factory.mktemp("demo_reasons")
    demo = generate_demo(folder / "demo", n_accounts=600, seed=11, involuntary_share=0.3)
    db_path = folder / "retention.duckdb"
    build_database(demo.accounts, demo.interactions, db_path, mrr_history=demo.mrr_history)
    return db_path


@pytest.fixture(scope="module")
def reasons_con(reasons_database):
    con = duckdb.connect(str(reasons_database), read_only=True)
    yield con
    con.close()


def open_page(monkeypatch, db_path, page: str, query_params: dict | None = None):
    monkeypatch.setenv("RETENTION_DB", str(db_path))
    return run_app(page, query_params)


def plotly_specs(at) -> dict[str, dict]:
    return {chart.proto.id.rsplit("-", 1)[-1]: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def churned_by_cause(con, first: date, last_end: date, plan: str | None = None) -> dict[str, int]:
    """Accounts churned from each cause with a churn in the months from `first` up to `last_end` (exclusive), as the
    monthly KPIs count them: a churn date in (month start, next month start], or on the signup day."""
    return dict(con.execute(
        """
        select coalesce(churn_cause, 'unknown'), count(*)
        from account_survival
        where churned = 1 and ($plan is null or plan = $plan)
          and ((churn_date > $first and churn_date <= $last_end)
               or (churn_date = signup_date and signup_date >= $first and signup_date < $last_end))
        group by all
        """, {"first": first, "last_end": last_end, "plan": plan}).fetchall())


def cause_sentence_numbers(text: str) -> tuple[int, list[int]]:
    total, shares = re.match(r"In the 12 months to \w+ \d{4}, ([\d,]+) accounts churned: (.*?);", text).groups()
    return int(total.replace(",", "")), [int(p) for p in re.findall(r"(\d+)% ", shares)]


@pytest.mark.parametrize("plan", [None, "Starter"])
def test_overview_splits_the_last_years_churn_by_cause_as_sql_counts_it(reasons_database, reasons_con, monkeypatch,
                                                                        plan):
    at = open_page(monkeypatch, reasons_database, "overview", {"filter": [f"plan={plan}"]} if plan else None)

    assert "Churn by cause" in [h.value for h in at.subheader]
    (as_of,) = reasons_con.execute("select as_of_date from build_info").fetchone()
    as_of = pd.Timestamp(as_of)
    # the as-of month is over only when the as-of date is its last day
    end = (as_of + pd.Timedelta(days=1)).to_period("M").to_timestamp() if as_of.is_month_end else \
        as_of.to_period("M").to_timestamp()
    now = churned_by_cause(reasons_con, (end - pd.DateOffset(years=1)).date(), end.date(), plan)
    before = churned_by_cause(reasons_con, (end - pd.DateOffset(years=2)).date(),
                              (end - pd.DateOffset(years=1)).date(), plan)
    sentence = next(m.value for m in at.markdown if m.value.startswith("In the 12 months to")).replace("\\$", "$")
    total, shares = cause_sentence_numbers(sentence)
    assert total == sum(now.values())
    assert shares[0] == round(100 * now["voluntary"] / total)
    assert f"(a year earlier {round(100 * before['voluntary'] / sum(before.values()))}%)" in sentence
    assert "involuntary churn — failed payments, which support cannot prevent — cost $" in sentence

    table = next(d.value for d in at.dataframe if "Cause" in d.value.columns).set_index("Cause")
    assert table.loc["All churn", "Churned accounts, last 12 months"] == f"{total:,}"
    assert table.loc["Involuntary (payment failed)", "Churned accounts, a year earlier"] == \
        f"{before['involuntary']:,}"
    chart = plotly_specs(at)["churn_by_cause"]
    assert {trace["name"] for trace in chart["data"]} == {LAST_YEAR, YEAR_EARLIER}
    assert NO_CHURN_REASONS not in [m.value for m in at.markdown]
    if plan is None:  # the build's forecast splits the coming year's churn by cause too, and the parts add up
        forecast = reasons_con.execute("select * from forecast_series where month_number = 12").df().set_index(
            "measure")
        split = next(m.value for m in at.markdown if m.value.startswith("Of the "))
        assert split.startswith(f"Of the {forecast.loc['churned_accounts', 'estimate']:,.0f} accounts expected to "
                                "churn by ")
        assert f"would leave voluntarily ({forecast.loc['churned_accounts:voluntary', 'lower_80']:,.0f}–" in split
        parts = forecast[forecast.index.str.startswith("churned_accounts:")].estimate
        assert parts.sum() == pytest.approx(forecast.loc["churned_accounts", "estimate"])


def test_drivers_page_shows_each_factors_effect_by_cause_from_the_stored_models(reasons_database, reasons_con,
                                                                                monkeypatch):
    at = open_page(monkeypatch, reasons_database, "drivers")

    assert "Each factor's effect by churn cause" in [h.value for h in at.subheader]
    info = json.loads(reasons_con.execute(
        "select info_json from model_info where model = 'cause_models'").fetchone()[0])
    causes = info["causes"]
    assert causes[:2] == ["voluntary", "involuntary"]
    assert [t.label for t in at.tabs] == [f"{cause_short_label(c).capitalize()} churn" for c in causes]
    assert {f"forest_cause_{i}" for i in range(len(causes))} <= set(plotly_specs(at))
    assert any("among accounts still customers" in c.value and "treated as leaving the data" in c.value
               for c in at.caption)

    stored = reasons_con.execute(
        "select churn_cause, hazard_ratio, ci_lower, ci_upper from cause_factor_effects "
        "where term = 'first_response_hours'").df().set_index("churn_cause")
    table = next(d.value for d in at.dataframe if "Voluntary churn: hazard ratio (95% CI)" in d.value.columns)
    row = table.set_index("factor").loc["first response time"]
    for cause in ("voluntary", "involuntary"):
        s = stored.loc[cause]
        assert row[f"{cause.capitalize()} churn: hazard ratio (95% CI)"] == \
            f"{s.hazard_ratio:.2f} ({s.ci_lower:.2f} – {s.ci_upper:.2f})"
    sentences = next(m.value for m in at.markdown if "voluntary churn (hazard ratio" in m.value)
    v = stored.loc["voluntary"]
    if v.ci_lower > 1:  # the demo plants slower first response as a driver of voluntary churn only
        assert (f"Accounts whose median first response time doubled had more voluntary churn (hazard ratio "
                f"{v.hazard_ratio:.2f}, 95% interval {v.ci_lower:.2f}–{v.ci_upper:.2f})") in sentences


def test_cause_sections_speak_in_labels(reasons_database, reasons_con, monkeypatch):
    """What the by-cause sections show carries no built-in name (the models' own notes, which name columns, are in
    an expander of their own and not checked here)."""
    from test_page_labels import chart_texts, found_in, raw_names, table_headers

    names = raw_names(reasons_con) | {"churn_cause", "churned_accounts", "churned_mrr"}
    overview = open_page(monkeypatch, reasons_database, "overview")
    drivers = open_page(monkeypatch, reasons_database, "drivers")
    texts = [m.value for m in overview.markdown if m.value.startswith("In the 12 months")]
    texts += [m.value for m in drivers.markdown if "churn (hazard ratio" in m.value]
    texts += [t.label for t in drivers.tabs]
    for at in (overview, drivers):
        texts += [h for d in at.dataframe if {"Cause", "also adjusted for"} & set(d.value.columns)
                  for h in table_headers(d)]
        texts += [t for key, spec in plotly_specs(at).items() if key.startswith(("churn_by_cause", "forest_cause"))
                  for t in chart_texts(spec)]
    texts += list(next(d.value for d in overview.dataframe if "Cause" in d.value.columns)["Cause"])
    assert len(texts) > 20
    assert not [(name, text) for text in texts for name in found_in(text, names)]


def test_pages_without_churn_reasons_say_so_in_one_sentence(small_demo_database, monkeypatch):
    overview = open_page(monkeypatch, small_demo_database[0], "overview")
    drivers = open_page(monkeypatch, small_demo_database[0], "drivers")

    for at in (overview, drivers):
        assert NO_CHURN_REASONS in [m.value for m in at.markdown]
    assert "churn_by_cause" not in plotly_specs(overview)
    assert not any("Cause" in d.value.columns for d in overview.dataframe)
    assert not [key for key in plotly_specs(drivers) if key.startswith("forest_cause")]
    assert "forest" in plotly_specs(drivers)  # the page as before
    assert len(drivers.tabs) == 0


def test_data_page_checks_the_planted_effects_against_the_models_of_each_cause(reasons_database, monkeypatch):
    """The demo plants its service effects on voluntary churn and none on involuntary churn: the Data page checks
    each against the models of that cause, not against a model of all churn, which payment failures dilute."""
    at = open_page(monkeypatch, reasons_database, "data_page")
    headers = [h.value for h in at.subheader]
    assert "Demo data: planted effects beside the recovered ones" in headers
    assert "Demo data: involuntary churn, which no service measure moves" in headers
    assert any("planted these effects on voluntary churn" in c.value for c in at.caption)
    voluntary = next(d.value for d in at.dataframe if "planted hazard ratio" in d.value.columns
                     and "mutually adjusted: recovered" in d.value.columns)
    first_response = voluntary[voluntary.factor.str.contains("first response", case=False)].iloc[0]
    assert first_response["own model: truth inside"] and first_response["mutually adjusted: truth inside"], \
        first_response.to_dict()
    involuntary = next(d.value for d in at.dataframe if list(d.value.columns)[:3] == [
        "factor", "term", "planted hazard ratio"] and "mutually adjusted: recovered" not in d.value.columns)
    assert (involuntary["planted hazard ratio"] == 1.0).all() and len(involuntary) >= 10
    first_response = involuntary.set_index("term").loc["first_response_hours"]
    assert first_response["own model: truth inside"], first_response.to_dict()
