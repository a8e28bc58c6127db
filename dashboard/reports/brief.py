"""The briefs as print pages: the investment case on one A4 page, the overview on two, as HTML for pdf.html_to_pdf.

Pure functions: the gathered content (dashboard.reports.content) in, one self-contained HTML document out, its
charts inline SVG (print_charts), every number as the page formats it. Every page's foot names the data's as-of
date, the filters and the build, so a forwarded PDF says what it describes.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone

from dashboard import findings, investment_view
from dashboard.labels import filters_in_words, revenue_basis_words
from dashboard.reports import print_charts
from dashboard.reports.content import ForecastView, InvestmentCase, Overview

# Print widths: A4 is 210 mm wide; the margins leave 182 mm of text, about 7.1 inches.
CHART_WIDTH_IN = 7.0
HALF_CHART_WIDTH_IN = 3.45

STYLE = """
@page { size: A4; margin: 13mm 14mm 16mm 14mm;
        @bottom-left { content: element(footer); width: 85%; }
        @bottom-right { content: "Page " counter(page) " of " counter(pages); font-size: 7pt; color: #6b7280; } }
html { font-family: "DejaVu Sans", sans-serif; font-size: 8.6pt; color: #111827; line-height: 1.32; }
footer { position: running(footer); font-size: 7pt; color: #6b7280; }
h1 { font-size: 15pt; margin: 0 0 1mm 0; }
h2 { font-size: 10pt; margin: 3.5mm 0 1.2mm 0; border-bottom: 0.4pt solid #d1d5db; padding-bottom: 0.6mm; }
p { margin: 0 0 1.4mm 0; }
.subtitle { color: #4b5563; margin-bottom: 2.5mm; }
.headline { font-size: 10.5pt; line-height: 1.35; margin: 2mm 0 3mm 0; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
table.tiles td { border: 0.4pt solid #e5e7eb; padding: 1.4mm 1.6mm; vertical-align: top; }
.tile-label { color: #4b5563; font-size: 7.6pt; }
.tile-value { font-size: 13pt; font-weight: bold; margin: 0.6mm 0; }
.tile-interval { color: #4b5563; font-size: 7pt; }
table.rows td, table.rows th { border-bottom: 0.4pt solid #e5e7eb; padding: 0.9mm 1.4mm; text-align: left;
                               vertical-align: top; }
table.rows th { font-weight: normal; color: #374151; }
ul { margin: 0 0 1.4mm 0; padding-left: 4.5mm; }
li { margin-bottom: 0.9mm; }
.muted { color: #6b7280; }
.small { font-size: 7.4pt; }
.warning { color: #92400e; }
.chart { margin: 1.5mm 0; }
.charts-row { display: flex; gap: 3mm; }
.page-break { break-before: page; }
svg { max-width: 100%; height: auto; }
"""


def _escape(text: object) -> str:
    return html.escape(str(text))


def footer_text(info: dict, filters, generated_at: datetime | None) -> str:
    """What every printed page says it describes: the data's as-of date, the filters, the build and when made
    (`generated_at`, UTC; default now)."""
    generated_at = generated_at or datetime.now(timezone.utc)
    selection = "filters: " + ", ".join(filters_in_words(filters)) if filters else "all accounts"
    return (f"Data as of {info['as_of_date']:%d %b %Y} · {selection} · build {info['build_id']} · made "
            f"{generated_at:%d %b %Y %H:%M} UTC · estimates from observational data: associations, not proof of "
            "cause")


def _document(title: str, footer: str, body: str) -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><footer>{_escape(footer)}</footer>{body}</body></html>")


def _bullets(lines: list[str], css: str = "") -> str:
    if not lines:
        return ""
    return f"<ul class='{css}'>" + "".join(f"<li>{_escape(line)}</li>" for line in lines) + "</ul>"


def _tiles(tiles: list[dict]) -> str:
    cells = "".join(f"<td><div class='tile-label'>{_escape(t['label'])}</div>"
                    f"<div class='tile-value'>{_escape(t['value'])}</div>"
                    f"<div class='tile-interval'>{_escape(t['interval'])}</div></td>" for t in tiles)
    return f"<table class='tiles'><tr>{cells}</tr></table>"


def investment_html(case: InvestmentCase, generated_at: datetime | None = None) -> str:
    """The investment case on one page: the headline sentence, the five tiles with their intervals, the cost, one
    chart, what the estimate was adjusted for and how strong a hidden confounder would need to be, overlap and
    stability in a line each, and the model's calibration check."""
    result, economics = case.result, case.economics
    arr = result["arr_kept"]
    selection = ", ".join(filters_in_words(case.filters)) if case.filters else "all active accounts"
    cost = ("No yearly cost was given, so no ROI or payback." if economics["yearly_cost"] is None else
            f"Yearly cost of the change: {investment_view.money(economics['yearly_cost'])} "
            f"({investment_view.money(economics['horizon_cost'])} over the {result['horizon_days']} days).")
    chart = print_charts.kept_interval_svg(
        "ARR kept", arr["estimate"], arr["ci_lower"], arr["ci_upper"], True,
        title="ARR kept: a year's revenue of the accounts kept (95% interval)", width_in=CHART_WIDTH_IN,
        height_in=1.6)
    calibration_css = "warning" if case.calibration["missed"] else "muted"
    body = [
        "<h1>Support investment case</h1>",
        f"<p class='subtitle'>{_escape(investment_view.changes_in_words(case.changes))} · {_escape(selection)} · "
        f"horizon {result['horizon_days']} days</p>",
        f"<p class='headline'>{_escape(investment_view.headline_sentence(result, case.changes))}</p>",
        _tiles(case.tiles),
        f"<p class='small muted' style='margin-top:1.4mm'>{_escape(cost)} ROI and payback carry the interval of the "
        "revenue kept.</p>",
        f"<div class='chart'>{chart}</div>",
        "<h2>What the estimate rests on</h2>",
        _bullets(investment_view.adjustment_lines(result, case.factor_effects)
                 + investment_view.confounder_lines(result, case.factor_effects)
                 + [investment_view.overlap_line(result), investment_view.stability_line(result, case.stability)]),
        f"<p class='small {calibration_css}'>{_escape(case.calibration['text'])}</p>",
    ]
    if case.tail:
        body.append(f"<p class='small muted'>{_escape(case.tail)}</p>")
    if case.cause_result is not None:
        body.append(f"<p class='small'>{_escape(investment_view.cause_sentence(case.cause_result))}</p>")
    body.append(f"<p class='small muted'>{_escape(case.structure_line)}</p>")
    return _document("Support investment case", footer_text(case.info, case.filters, generated_at), "".join(body))


def _kpi_rows(headline: list[dict]) -> str:
    rows = "".join(f"<tr><th>{_escape(m['label'])}</th><td><strong>{_escape(m['value'])}</strong></td>"
                   f"<td class='muted'>{_escape(m['delta'] or '')}</td><td class='muted small'>{_escape(m['help'])}"
                   "</td></tr>" for m in headline)
    return ("<table class='rows'><colgroup><col style='width:27%'><col style='width:13%'>"
            f"<col style='width:22%'><col style='width:38%'></colgroup>{rows}</table>")


def overview_html(view: Overview, forecast: ForecastView | None, generated_at: datetime | None = None,
                  cohort_view: str = "accounts") -> str:
    """The overview on two pages: the KPIs against a year earlier and the findings, then where retention is heading,
    the retention trend and the cohort heatmap (of retained accounts, or with `cohort_view` "revenue" of retained
    revenue, as the page's choice)."""
    info = view.info
    selection = ", ".join(filters_in_words(view.filters)) if view.filters else "All accounts"
    findings_lines = list(view.findings_lines)
    body = [
        "<h1>Customer retention overview</h1>",
        f"<p class='subtitle'>As of {info['as_of_date']:%d %B %Y} · {_escape(selection)} · revenue from "
        f"{_escape(revenue_basis_words(info['revenue_basis']))}</p>",
        "<h2>Headline</h2>", _kpi_rows(view.headline),
    ]
    if view.year_on_year:
        body.append(f"<p style='margin-top:1.4mm'>{_escape(view.year_on_year)}</p>")
    body.append("<h2>What the models say</h2>")
    body.append(_bullets(findings_lines) or "<p>No service lever is sure to keep accounts in these data.</p>")
    if view.levers and view.lever_accounts:
        body.append(f"<p class='small muted'>What a change would keep among all {view.lever_accounts:,} active "
                    "accounts, estimated from observational data: associations, not proof of cause. "
                    f"{_escape(view.source_note)} {_escape(view.structure_line)}</p>")
    if view.cause_line:
        body.append(f"<p>{_escape(view.cause_line)}</p>")
    elif not view.has_churn_reasons:
        body.append(f"<p class='small muted'>{_escape(findings.NO_CHURN_REASONS)}</p>")
    body.append("<h2 class='page-break'>Where we are heading</h2>")
    if forecast is None:
        body.append("<p class='muted'>The forecast of the filtered accounts was not asked for.</p>")
    elif forecast.forecast is None:
        body.append(f"<p class='muted'>No forecast: {_escape(forecast.missing_reason)}.</p>")
    else:
        body.append(f"<p>{_escape(forecast.sentence)}</p>")
        if forecast.cause_sentence:
            body.append(f"<p>{_escape(forecast.cause_sentence)}</p>")
        start = forecast.info["as_of"]
        charts = [print_charts.forecast_fan_svg(
            findings.forecast_history(view.monthly, measure), forecast.forecast, measure, base, (start, forecast.info[at]),
            money_axis, title=title, width_in=HALF_CHART_WIDTH_IN, height_in=3.5)
            for measure, base, at, money_axis, title in (
                ("active_accounts", "existing_base_accounts", "active_accounts_at_as_of", False, "Active accounts"),
                ("mrr", "existing_base_mrr", "mrr_at_as_of", True, "MRR"))
            if measure in set(forecast.forecast.measure)]
        body.append("<div class='charts-row'>" + "".join(f"<div class='chart'>{c}</div>" for c in charts) + "</div>")
        body.append(f"<p class='small muted'>{_escape(findings.FORECAST_INTERVALS_IN_WORDS)}</p>")
    body.append("<h2>Retention by month and by cohort</h2>")
    trend = print_charts.retention_trend_svg(view.monthly, width_in=HALF_CHART_WIDTH_IN, height_in=3.6)
    cohorts = print_charts.cohort_heatmap_svg(
        view.cohorts, "retained_account_share" if cohort_view == "accounts" else "revenue_retained_share",
        title=f"Cohort retention ({cohort_view})", width_in=HALF_CHART_WIDTH_IN, height_in=3.6)
    body.append(f"<div class='charts-row'><div class='chart'>{trend}</div><div class='chart'>{cohorts}</div></div>")
    return _document("Customer retention overview", footer_text(info, view.filters, generated_at), "".join(body))
