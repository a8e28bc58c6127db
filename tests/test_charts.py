"""The pure figure builders and number formats of dashboard/charts.py, on a few literal rows each."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard import charts
from dashboard.charts import money, percent


# --- number formats --------------------------------------------------------------------------------

@pytest.mark.parametrize("value, text", [
    (1_234_567, "$1.2M"),
    (55_040_000, "$55.0M"),
    (2_500_000_000, "$2.5B"),
    (1_234.5, "$1.2K"),
    (950, "$950"),
    (0, "$0"),
    (-1_500, "-$1.5K"),
    (-2_300_000, "-$2.3M"),
    (None, "—"),
    (float("nan"), "—"),
])
def test_money_formats(value, text):
    assert money(value) == text


def test_money_rounds_up_into_the_next_unit():
    assert money(999_999) == "$1.0M"


@pytest.mark.parametrize("value, text", [
    (0.934, "93.4%"),
    (1.0, "100.0%"),
    (0.0, "0.0%"),
    (1.052, "105.2%"),  # net revenue retention above 100% stays as it is
    (-0.038, "-3.8%"),
    (None, "—"),
    (float("nan"), "—"),
    (np.float64("nan"), "—"),
])
def test_percent_formats(value, text):
    assert percent(value) == text


def test_percent_digits():
    assert percent(0.93456, digits=2) == "93.46%"


# --- builders: literal rows in, figure out --------------------------------------------------------

def curves_frame() -> pd.DataFrame:
    """Two groups of a product-limit table: rows at day 0 and at each day someone left."""
    rows = [
        # group, time_days, survival, ci_lower, ci_upper, at_risk, events, censored
        ("Starter", 0, 1.00, 1.00, 1.00, 10, 0, 0),
        ("Starter", 30, 0.90, 0.70, 0.97, 10, 1, 0),
        ("Starter", 70, 0.75, 0.50, 0.90, 8, 1, 1),
        ("Starter", 100, 0.75, 0.50, 0.90, 5, 0, 5),
        ("Growth", 0, 1.00, 1.00, 1.00, 4, 0, 0),
        ("Growth", 50, 0.75, 0.30, 0.93, 4, 1, 0),
        ("Growth", 100, 0.75, 0.30, 0.93, 3, 0, 3),
    ]
    return pd.DataFrame(rows, columns=["group", "time_days", "survival", "ci_lower", "ci_upper",
                                       "at_risk", "events", "censored"])


def lines(fig: go.Figure) -> list:
    """The legend-visible curves (the bands and at-risk texts are hidden from the legend)."""
    return [t for t in fig.data if t.showlegend is not False]


def at_risk_texts(fig: go.Figure) -> dict[str, list[str]]:
    return {t.y[0]: list(t.text) for t in fig.data if t.mode == "text"}


def test_survival_curves_one_line_per_group_with_bands():
    fig = charts.survival_curves(curves_frame())

    assert isinstance(fig, go.Figure)
    assert [t.name for t in lines(fig)] == ["Starter", "Growth"]
    for line in lines(fig):
        assert line.line.shape == "hv"  # a survival curve is a step function
        assert all(0 <= y <= 1 for y in line.y)
    bands = [t for t in fig.data if t.fill == "tonexty"]
    assert len(bands) == 2
    starter_band = bands[0]
    assert list(starter_band.y) == [1.00, 0.70, 0.50, 0.50]  # the lower limits, filled up to the upper ones
    assert tuple(fig.layout.yaxis.range) == (0, 1.02)
    assert fig.layout.yaxis.tickformat == ".0%"


def test_survival_curves_at_risk_row_at_the_ticks():
    fig = charts.survival_curves(curves_frame(), at_risk_ticks=3)  # ticks at days 0, 50 and 100

    assert list(fig.layout.xaxis2.tickvals) == [0, 50, 100]
    texts = at_risk_texts(fig)
    assert set(texts) == {"Starter", "Growth"}
    assert texts["Starter"][0] == "10"
    assert texts["Growth"][0] == "4"


def test_survival_curves_at_risk_excludes_those_who_left_before_the_tick():
    texts = at_risk_texts(charts.survival_curves(curves_frame(), at_risk_ticks=3))

    # a tick strictly after the last change: the one who churned at day 30 is no longer at risk at day 50
    assert texts["Starter"][1] == "9"


def test_survival_curves_revenue_view_uses_the_named_column():
    frame = curves_frame().drop(columns=["at_risk"]).rename(columns={"survival": "revenue_retained_share"})

    fig = charts.survival_curves(frame, y="revenue_retained_share", y_title="MRR retained")

    assert [list(t.y) for t in lines(fig)] == [[1.0, 0.9, 0.75, 0.75], [1.0, 0.75, 0.75]]
    assert fig.layout.yaxis.title.text == "MRR retained"


def revenue_frame() -> pd.DataFrame:
    """The revenue curves carry no at-risk counts (their MRR at risk is money, not accounts)."""
    return curves_frame().drop(columns=["at_risk", "events", "censored", "ci_lower", "ci_upper"]).rename(
        columns={"survival": "revenue_retained_share"})


def test_survival_curves_revenue_view_has_its_day_axis_under_the_curves_and_no_empty_row():
    fig = charts.survival_curves(revenue_frame(), y="revenue_retained_share", at_risk_ticks=3)

    assert "xaxis2" not in fig.layout.to_plotly_json()  # one panel: no at-risk row left empty under the curves
    assert fig.layout.xaxis.title.text == "Days since signup"
    assert list(fig.layout.xaxis.tickvals) == [0, 50, 100] and fig.layout.xaxis.showticklabels is True
    assert fig.layout.height < charts.survival_curves(curves_frame()).layout.height


def test_survival_curves_at_risk_row_grows_with_the_groups_and_keeps_the_top_one_inside():
    two = charts.survival_curves(curves_frame())
    frame = pd.concat([curves_frame(), curves_frame().assign(group=lambda f: f.group + " EU")], ignore_index=True)
    four = charts.survival_curves(frame)

    assert four.layout.height - two.layout.height == 2 * charts.AT_RISK_LINE_PX
    # the category axis spans every group's line with room above the top one, which the curves' axis hid
    low, high = four.layout.yaxis2.range
    assert low < -0.5 and high > 4 - 1 + 0.5


def effects_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "pillar": ["quick", "quick", "courteous", "control"],
        "term": ["first_response_hours", "sla_breach_rate", "csat", "tickets_90d"],
        "unit": ["per 10 hours", "per 10 pp", "per point", "per ticket"],
        "hazard_ratio": [1.40, 0.96, 0.88, 1.02],
        "ci_lower": [1.20, 0.80, 0.80, 0.99],
        "ci_upper": [1.63, 1.15, 0.97, 1.05],
    })


def test_forest_plot_one_marker_per_term_on_log_axis():
    effects = effects_frame()

    fig = charts.forest_plot(effects)

    assert fig.layout.xaxis.type == "log"
    markers = {y: x for trace in fig.data for x, y in zip(trace.x, trace.y)}
    assert markers == dict(zip(effects.term, effects.hazard_ratio))
    assert sum(len(trace.x) for trace in fig.data) == len(effects)
    assert [t.name for t in fig.data] == ["control", "courteous", "quick"]  # one legend entry per pillar
    quick = next(t for t in fig.data if t.name == "quick")
    # error bars reach the interval limits from the hazard ratio
    assert np.allclose(np.asarray(quick.x) + np.asarray(quick.error_x.array), [1.15, 1.63])
    assert np.allclose(np.asarray(quick.x) - np.asarray(quick.error_x.arrayminus), [0.80, 1.20])
    assert [shape.x0 for shape in fig.layout.shapes] == [1.0]  # the no-association line


def control_terms(n: int) -> pd.DataFrame:
    """`n` control terms with labels as long as the missing-measure indicators' ones."""
    return pd.DataFrame({
        "pillar": ["missing indicator"] * n,
        "label": [f"missing {i}: handoff rate, escalation rate, reopen rate, resolution time, proactive update "
                  "rate, no eligible interactions in 90 days vs some (the measure was imputed)" for i in range(n)],
        "unit": ["no eligible interactions in 90 days vs some"] * n,
        "hazard_ratio": [0.5 + 0.5 * i for i in range(n)],
        "ci_lower": [0.3 + 0.5 * i for i in range(n)],
        "ci_upper": [0.9 + 0.5 * i for i in range(n)],
    })


def test_forest_plot_height_grows_with_its_rows_and_wrapped_lines():
    short = [charts.forest_plot(effects_frame().iloc[:n]).layout.height for n in (1, 4)]
    long = [charts.forest_plot(control_terms(n), y="label").layout.height for n in (4, 10)]

    assert short[0] == 360 and short[0] <= short[1]  # a minimum height, so one row is no sliver either
    assert long[0] < long[1] and long[1] - long[0] == 6 * (long[0] - charts.FOREST_FRAME_PX) / 4
    assert long[0] > charts.forest_plot(effects_frame(), y="term").layout.height  # four long rows, four short


def test_forest_plot_wraps_long_labels_on_the_axis_and_keeps_them_whole_in_the_data():
    effects = control_terms(3)

    fig = charts.forest_plot(effects, y="label")

    assert {y for trace in fig.data for y in trace.y} == set(effects.label)  # hover shows the whole label
    assert all(max(len(line) for line in text.split("<br>")) <= charts.LABEL_WRAP_CHARACTERS
               for text in fig.layout.yaxis.ticktext)
    assert fig.layout.yaxis.automargin is True


def test_forest_plot_labels_a_wide_log_axis_with_the_ratios_themselves():
    fig = charts.forest_plot(control_terms(4), y="label")  # intervals from 0.3 to 2.4

    assert list(fig.layout.xaxis.ticktext) == ["0.33", "0.5", "0.67", "0.8", "1", "1.25", "1.5", "2"]
    assert list(fig.layout.xaxis.tickvals) == [0.33, 0.5, 0.67, 0.8, 1, 1.25, 1.5, 2]


def cohorts_frame() -> pd.DataFrame:
    rows = []
    for cohort, months in (("2024-01-01", 3), ("2024-02-01", 2), ("2024-03-01", 1)):
        for m in range(months):
            rows.append({"cohort_month": pd.Timestamp(cohort), "months_since_signup": m,
                         "retained_account_share": 1 - 0.1 * m, "revenue_retained_share": 1 - 0.05 * m})
    return pd.DataFrame(rows)


def test_cohort_heatmap_grid_is_cohorts_by_months():
    fig = charts.cohort_heatmap(cohorts_frame())

    (heatmap,) = fig.data
    z = np.asarray(heatmap.z, dtype=float)
    assert z.shape == (3, 3)
    assert list(heatmap.y) == ["2024-03", "2024-02", "2024-01"]  # newest cohort on top
    assert list(heatmap.x) == [0, 1, 2]
    assert list(z[2]) == pytest.approx([1.0, 0.9, 0.8])  # the January cohort, fully observed
    assert np.isnan(z[0, 1]) and np.isnan(z[0, 2])  # March has one observed month only
    assert heatmap.zmin == 0


def test_cohort_heatmap_revenue_share():
    (heatmap,) = charts.cohort_heatmap(cohorts_frame(), value="revenue_retained_share").data

    assert list(np.asarray(heatmap.z, dtype=float)[2]) == pytest.approx([1.0, 0.95, 0.9])


def test_retention_trend_one_line_per_measure_skipping_months_without_revenue():
    kpi = pd.DataFrame({
        "month_start": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]),
        "gross_revenue_retention": [None, 0.97, 0.95],
        "net_revenue_retention": [None, 1.01, 0.99],
    })

    fig = charts.retention_trend(kpi)

    assert [t.name for t in fig.data] == ["Net revenue retention", "Gross revenue retention"]
    assert [list(t.y) for t in fig.data] == [[1.01, 0.99], [0.97, 0.95]]
    assert len(fig.data[0].x) == 2


def test_quartile_churn_one_bar_per_quartile():
    quartiles = pd.DataFrame({
        "quartile": [1, 2, 3, 4],
        "measure_low": [0.0, 2.5, 6.0, 12.0],
        "measure_high": [2.5, 6.0, 12.0, 48.0],
        "monthly_churn_rate": [0.010, 0.012, 0.015, 0.022],
        "ci_lower": [0.008, 0.010, 0.012, 0.018],
        "ci_upper": [0.012, 0.014, 0.018, 0.026],
    })

    (bars,) = charts.quartile_churn(quartiles, "median first response (hours)").data

    assert list(bars.x) == ["Q1: 0–2.5", "Q2: 2.5–6", "Q3: 6–12", "Q4: 12–48"]
    assert list(bars.y) == [0.010, 0.012, 0.015, 0.022]


def test_calibration_points_and_diagonal():
    table = pd.DataFrame({"predicted_mean": [0.05, 0.10, 0.30], "observed_rate": [0.04, 0.12, 0.28],
                          "observed_ci_lower": [0.02, 0.08, 0.22], "observed_ci_upper": [0.07, 0.16, 0.35]})

    diagonal, deciles = charts.calibration(table, 90).data

    assert list(diagonal.x) == list(diagonal.y) == [0, pytest.approx(0.35 * 1.05)]
    assert list(deciles.y) == [0.04, 0.12, 0.28]


@pytest.mark.parametrize("estimate, color", [(120_000.0, charts.PALETTE[2]), (-5_000.0, charts.PALETTE[1])])
def test_kept_interval_bar_coloured_by_sign(estimate, color):
    fig = charts.kept_interval("First response 2h faster", estimate, estimate - 1000, estimate + 2000, money_axis=True)

    (bar,) = fig.data
    assert list(bar.x) == [estimate]
    assert bar.marker.color == color
    assert list(bar.error_x.array) == [2000] and list(bar.error_x.arrayminus) == [1000]
    assert fig.layout.xaxis.tickprefix == "$"


# --- empty inputs: a figure that says why, never an exception ---------------------------------------

EMPTY_CASES = {
    "survival_curves": (lambda: charts.survival_curves(curves_frame().iloc[0:0]), "No accounts match the filters."),
    "forest_plot": (lambda: charts.forest_plot(effects_frame().iloc[0:0]), "The drivers model has no terms to show."),
    "cohort_heatmap": (lambda: charts.cohort_heatmap(cohorts_frame().iloc[0:0]), "No fully observed cohort months yet."),
    "retention_trend": (lambda: charts.retention_trend(
        pd.DataFrame({"month_start": pd.to_datetime(["2024-01-01"]), "gross_revenue_retention": [math.nan],
                      "net_revenue_retention": [math.nan]})), "No months with starting revenue yet."),
    "quartile_churn": (lambda: charts.quartile_churn(pd.DataFrame(columns=["quartile"]), "csat"),
                       "No account-months have this measure."),
    "calibration": (lambda: charts.calibration(pd.DataFrame(columns=["predicted_mean"]), 90),
                    "No holdout calibration for this build."),
}


@pytest.mark.parametrize("builder", EMPTY_CASES)
def test_empty_input_gives_an_explaining_figure(builder):
    build, message = EMPTY_CASES[builder]

    fig = build()

    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 0
    assert [a.text for a in fig.layout.annotations] == [message]
    assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False


def test_recorded_changes_are_marked_only_within_the_charts_months():
    from dashboard.charts import mark_changes

    changes = pd.DataFrame({"name": ["EMEA hires", "Before the data", "A very long name for a change that goes on"],
                            "date": [date(2025, 7, 1), date(2019, 1, 1), date(2025, 9, 1)]})
    figure = mark_changes(go.Figure(), changes, date(2024, 1, 1), date(2026, 6, 1))
    assert len(figure.layout.shapes) == 2
    texts = [note.text for note in figure.layout.annotations]
    assert texts[0] == "EMEA hires" and texts[1].endswith("…") and len(texts[1]) <= 28
    assert mark_changes(go.Figure(), None, date(2024, 1, 1), date(2026, 6, 1)).layout.shapes == ()
