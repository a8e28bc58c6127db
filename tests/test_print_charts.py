"""The PDF briefs' charts (dashboard/reports/print_charts.py) on a few literal rows each: inline SVG whose words are
text a PDF keeps, that WeasyPrint prints, the same whichever thread draws it, and a reason when there is nothing
to draw."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import matplotlib
import pandas as pd
import pypdf
import pytest

from conftest import require_pdf
from dashboard.charts import PALETTE, money
from dashboard.reports.pdf import html_to_pdf
from dashboard.reports import print_charts
from dashboard.reports.print_charts import (cohort_heatmap_svg, forecast_fan_svg, kept_interval_svg, money_ticks,
                                            retention_trend_svg)

SVG = "{http://www.w3.org/2000/svg}"


# --- literal frames in the shapes the app passes ------------------------------------------------------------------

def kpi_frame() -> pd.DataFrame:
    """Monthly revenue retention; the first month has no starting revenue, so no gross retention."""
    return pd.DataFrame({
        "month_start": [date(2026, m, 1) for m in range(1, 8)],
        "gross_revenue_retention": [float("nan"), 0.93, 0.94, 0.92, 0.95, 0.94, 0.96],
        "net_revenue_retention": [float("nan"), 1.01, 1.03, 0.99, 1.04, 1.02, 1.05],
    })


def cohorts_frame(n_cohorts: int) -> pd.DataFrame:
    """A cohort triangle: the cohort of month i is observed for n_cohorts - i months."""
    rows = [(pd.Timestamp(2023, 1, 1) + pd.DateOffset(months=i), month, 0.97 ** month)
            for i in range(n_cohorts) for month in range(n_cohorts - i)]
    return pd.DataFrame(rows, columns=["cohort_month", "months_since_signup", "retained_account_share"])


def forecast_frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame([{"month_number": n, "month": f"2027-{n:02d}", "month_end": date(2027, n, 28),
                          "measure": measure, "estimate": e, "lower_80": e * 0.95, "upper_80": e * 1.05,
                          "lower_95": e * 0.9, "upper_95": e * 1.1} for n, measure, e in rows])


FORECAST = forecast_frame([(n, "mrr", 4.0e6 + 5e4 * n) for n in range(1, 7)]
                          + [(n, "existing_base_mrr", 4.0e6 - 8e4 * n) for n in range(1, 7)])
WITH_CHANGE = forecast_frame([(n, "mrr", 4.0e6 + 7e4 * n) for n in range(1, 7)])
HISTORY = pd.DataFrame({"date": pd.to_datetime(["2026-09-01", "2026-10-01", "2026-11-01", "2026-12-01"]),
                        "value": [3.7e6, 3.8e6, 3.9e6, 4.0e6]})
START = (date(2026, 12, 31), 4.0e6)
BASE_LINE = "of which today's accounts (the gap above is new business)"


# Each chart as the brief calls it, with the words a reader must find on it: the title, the axis titles, the legend.
CHARTS: dict[str, tuple[Callable[[], str], list[str]]] = {
    "kept interval": (lambda: kept_interval_svg("Faster first response", 120_000, -30_000, 260_000, True,
                                                title="ARR kept by faster first response"),
                      ["ARR kept by faster first response", "ARR kept a year ($)", "Faster first response"]),
    "retention trend": (lambda: retention_trend_svg(kpi_frame()),
                        ["Revenue retention by month", "Month", "Share of starting MRR kept in the month",
                         "Net revenue retention", "Gross revenue retention"]),
    "cohort heatmap": (lambda: cohort_heatmap_svg(cohorts_frame(12)),
                       ["Cohort retention", "Months since signup", "Signup cohort", "retained"]),
    "forecast fan": (lambda: forecast_fan_svg(HISTORY, FORECAST, "mrr", "existing_base_mrr", START, True,
                                              title="MRR forecast"),
                     ["MRR forecast", "Month", "MRR ($)", "95% interval", "80% interval", "What happened",
                      "Forecast, all accounts", BASE_LINE]),
}


def texts(svg: str) -> list[str]:
    """The words drawn as SVG <text> elements, in document order."""
    return ["".join(element.itertext()) for element in ET.fromstring(svg).iter(f"{SVG}text")]


def text_elements(svg: str) -> list[ET.Element]:
    return list(ET.fromstring(svg).iter(f"{SVG}text"))


# --- inline SVG with its words as text -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", CHARTS)
def test_each_chart_is_an_inline_svg_element_with_its_words_as_text(name):
    draw, words = CHARTS[name]
    svg = draw()
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<?xml" not in svg and "<!DOCTYPE" not in svg
    # glyphs drawn as paths are defined as <path id="DejaVuSans-…">: none, the words are text
    assert "DejaVuSans-" not in svg
    # a long legend label is wrapped onto lines of its own: its words are read across them
    lines = texts(svg)
    assert [w for w in words if w not in lines and w not in " ".join(lines)] == []
    root = ET.fromstring(svg)
    # an A4 page's text width, in points, so WeasyPrint prints it at the size it was drawn
    assert root.get("width") == "482.4pt"
    assert root.get("height", "").endswith("pt")


def test_the_width_follows_the_keyword():
    svg = kept_interval_svg("Faster first response", 10.0, 2.0, 18.0, False, width_in=3.0)
    assert ET.fromstring(svg).get("width") == "216pt"


def test_the_kept_interval_counts_accounts_when_not_money():
    words = texts(kept_interval_svg("Faster first response", 12.5, 4.0, 21.0, False))
    assert "Accounts kept" in words and "ARR kept a year ($)" not in words


@pytest.mark.parametrize("estimate, color, other", [(120_000, PALETTE[2], PALETTE[1]),
                                                    (-40_000, PALETTE[1], PALETTE[2])])
def test_the_kept_bar_is_green_when_the_change_keeps_more_and_red_when_fewer(estimate, color, other):
    svg = kept_interval_svg("Faster first response", estimate, -80_000, 260_000, True)
    assert f"fill: {color}" in svg and f"fill: {other}" not in svg


def test_a_title_with_two_dollar_amounts_is_printed_as_written():
    """Two $ signs would otherwise be read as mathtext and drawn as italic glyphs."""
    title = "Keeps $1.2M to $3.4M of ARR a year"
    assert title in texts(kept_interval_svg("Faster first response", 2e6, 1.2e6, 3.4e6, True, title=title))


# --- number formats on the axes ------------------------------------------------------------------------------------

def test_money_and_share_ticks_read_as_the_app_writes_them():
    fan_words = texts(CHARTS["forecast fan"][0]())
    money_labels = [w for w in fan_words if w.startswith("$")]
    assert money_labels and all(re.fullmatch(r"\$\d+\.\dM", w) for w in money_labels), money_labels
    trend_words = texts(CHARTS["retention trend"][0]())
    share_labels = [w for w in trend_words if w.endswith("%")]
    assert share_labels and all(re.fullmatch(r"\d+%", w) for w in share_labels), share_labels


def test_money_ticks_take_more_decimals_only_when_neighbours_would_read_the_same():
    assert money_ticks().format_ticks([3.5e6, 4.0e6, 4.5e6]) == [money(v) for v in (3.5e6, 4.0e6, 4.5e6)]
    assert money_ticks().format_ticks([4.0e6, 4.05e6, 4.1e6]) == ["$4.00M", "$4.05M", "$4.10M"]


# --- the cohort heatmap's rows -------------------------------------------------------------------------------------

def test_many_cohorts_keep_readable_labels_newest_at_the_bottom_as_in_the_app():
    svg = cohort_heatmap_svg(cohorts_frame(48))
    cohort_labels = [e for e in text_elements(svg) if re.fullmatch(r"\d{4}-\d{2}", e.text or "")]
    names = [e.text for e in cohort_labels]
    assert 8 <= len(names) < 48
    assert "2026-12" in names  # the newest cohort is always labelled
    # SVG y grows downwards: the newest cohort lowest, then older ones upwards, as plotly's category axis stacks them
    heights = [float(e.get("y", "nan")) for e in cohort_labels]
    top_to_bottom = [name for _, name in sorted(zip(heights, names))]
    assert top_to_bottom == sorted(names) and top_to_bottom[-1] == "2026-12"
    gaps = [b - a for a, b in zip(sorted(heights), sorted(heights)[1:])]
    assert min(gaps) >= print_charts.TICK_PT * 1.2, gaps  # neighbouring labels never overlap


# --- printed by WeasyPrint ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", CHARTS)
def test_weasyprint_prints_each_chart_and_its_title_can_be_read_back(name):
    draw, words = CHARTS[name]
    html = f"<html><body><h1>Retention brief</h1>{draw()}</body></html>"
    require_pdf()
    reader = pypdf.PdfReader(io.BytesIO(html_to_pdf(html)))
    assert len(reader.pages) == 1
    printed = reader.pages[0].extract_text()
    assert words[0] in printed and words[1] in printed, printed


# --- drawn from several threads at once ------------------------------------------------------------------------

def test_charts_drawn_in_parallel_are_the_charts_drawn_alone():
    """Several sessions make briefs at once: every chart drawn among three other threads is, character for
    character, the chart drawn alone, and the process's matplotlib settings are as they were."""
    draws: dict[str, Callable[[], str]] = {name: draw for name, (draw, _) in CHARTS.items()}
    draws["forecast fan with the change"] = lambda: forecast_fan_svg(HISTORY, FORECAST, "mrr", "existing_base_mrr",
                                                                     START, True, with_change=WITH_CHANGE)
    before = {key: matplotlib.rcParams[key] for key in print_charts.SVG_SETTINGS}
    alone = {name: draw() for name, draw in draws.items()}
    assert alone["kept interval"] == draws["kept interval"]()  # deterministic: no random ids, no date

    jobs = [name for _ in range(4) for name in draws]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda name: (name, draws[name]()), jobs))

    assert len(together) == 4 * len(draws)
    for name, svg in together:
        assert svg == alone[name], name
    assert {key: matplotlib.rcParams[key] for key in print_charts.SVG_SETTINGS} == before


# --- nothing to draw, or something more to draw -------------------------------------------------------------

@pytest.mark.parametrize("draw, reason", [
    (lambda: retention_trend_svg(kpi_frame().iloc[:1]), "No months with starting revenue yet."),
    (lambda: cohort_heatmap_svg(cohorts_frame(3).iloc[:0]), "No fully observed cohort months yet."),
    (lambda: forecast_fan_svg(HISTORY, FORECAST.iloc[:0], "mrr", "existing_base_mrr", START, True),
     "No forecast for this measure."),
    (lambda: forecast_fan_svg(HISTORY, FORECAST, "active_accounts", "existing_base_accounts", START, False),
     "No forecast for this measure."),
    (lambda: kept_interval_svg("Faster first response", float("nan"), float("nan"), float("nan"), True),
     "No estimate for this change."),
])
def test_nothing_to_draw_gives_a_small_svg_saying_why(draw, reason):
    svg = draw()
    assert svg.startswith("<svg") and texts(svg) == [reason]


def test_the_fan_shows_the_forecast_with_the_change_as_a_line_of_its_own():
    without = texts(forecast_fan_svg(HISTORY, FORECAST, "mrr", "existing_base_mrr", START, True))
    changed = forecast_fan_svg(HISTORY, FORECAST, "mrr", "existing_base_mrr", START, True, with_change=WITH_CHANGE)
    assert "With the change" in texts(changed) and "With the change" not in without
    assert f"stroke: {PALETTE[2]}" in changed
