"""Headline metrics and standalone HTML reports (plotly.js inline, no CDN): pure functions."""

from __future__ import annotations

import html
import math
from datetime import datetime, timezone

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import money, percent
from dashboard.labels import filters_in_words


def _change(now: float | None, before: float | None, kind: str) -> str | None:
    if now is None or before is None or any(isinstance(v, float) and math.isnan(v) for v in (now, before)):
        return None
    if kind == "pp":
        return f"{(now - before) * 100:+.1f} pp vs a year earlier"
    if kind == "money":
        return f"{money(now - before)} vs a year earlier".replace("$-", "-$")
    return f"{now - before:+,.0f} vs a year earlier"


def headline_metrics(kpis: pd.DataFrame, survival_summary: pd.DataFrame) -> list[dict]:
    """The Overview's KPI tiles: value, change vs a year earlier, and what each one means."""
    now = kpis.loc["as_of"]
    before = kpis.loc["year_earlier"] if "year_earlier" in kpis.index else None

    def prior(column):
        return None if before is None else before[column]

    median = survival_summary.iloc[0] if len(survival_summary) == 1 else None
    median_text = "not reached"
    if median is not None and not pd.isna(median.median_survival_days) and median.median_survival_days != float("inf"):
        median_text = f"{median.median_survival_days:,.0f} days"
    return [
        {"label": "Active accounts", "value": f"{now.active_accounts:,}",
         "delta": _change(now.active_accounts, prior("active_accounts"), "count"), "delta_color": "normal",
         "help": "Signed up by the as-of date and not churned."},
        {"label": "ARR", "value": money(now.arr), "delta": _change(now.arr, prior("arr"), "money"),
         "delta_color": "normal", "help": "12 × the MRR of the active accounts in the as-of month."},
        {"label": "Logo churn (12 months)", "value": percent(now.logo_churn_12m),
         "delta": _change(now.logo_churn_12m, prior("logo_churn_12m"), "pp"), "delta_color": "inverse",
         "help": "Share of the accounts active a year before the as-of date that churned since."},
        {"label": "Gross revenue retention (12 months)", "value": percent(now.gross_revenue_retention_12m),
         "delta": _change(now.gross_revenue_retention_12m, prior("gross_revenue_retention_12m"), "pp"),
         "delta_color": "normal",
         "help": "MRR kept from the accounts active a year earlier, counting no expansion (churn and contraction only)."},
        {"label": "Net revenue retention (12 months)", "value": percent(now.net_revenue_retention_12m),
         "delta": _change(now.net_revenue_retention_12m, prior("net_revenue_retention_12m"), "pp"),
         "delta_color": "normal", "help": "MRR now from the accounts active a year earlier, expansion included."},
        {"label": "Median lifetime", "value": median_text, "delta": None, "delta_color": "off",
         "help": "Kaplan-Meier median days from signup to churn (censored at the as-of date)."},
    ]


def _figures_html(figures: list[go.Figure]) -> str:
    parts = []
    for i, figure in enumerate(figures):
        # the first figure carries plotly.js inline so the file opens offline; the rest reuse it
        parts.append(figure.to_html(full_html=False, include_plotlyjs=True if i == 0 else False))
    return "\n".join(parts)


def standalone_html(title: str, subtitle: str, sections: list[str], figures: list[go.Figure]) -> str:
    body = "\n".join(sections)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;color:#111827}}
table{{border-collapse:collapse}}td,th{{padding:4px 10px;border-bottom:1px solid #e5e7eb;text-align:left}}
.muted{{color:#6b7280}}</style></head>
<body><h1>{html.escape(title)}</h1><p class="muted">{html.escape(subtitle)} · generated {generated}</p>
{body}
{_figures_html(figures)}
</body></html>"""


def overview_html(info: dict, filters, headline: list[dict], sentences: list[str], figures: list[go.Figure],
                  findings_note: str = "") -> str:
    rows = "".join(
        f"<tr><th>{html.escape(m['label'])}</th><td>{html.escape(m['value'])}</td>"
        f"<td class='muted'>{html.escape(m['delta'] or '')}</td></tr>" for m in headline)
    findings = "".join(f"<li>{html.escape(s)}</li>" for s in sentences)
    subtitle = f"As of {info['as_of_date']:%Y-%m-%d}; " + ("filters: " + ", ".join(filters_in_words(filters)) if filters else "all accounts")
    return standalone_html(
        "Customer retention overview", subtitle,
        [f"<h2>Headline</h2><table>{rows}</table>",
         f"<h2>What the models say</h2><ul>{findings}</ul>"
         "<p class='muted'>Associations from observational data, not proof of cause. "
         f"{html.escape(findings_note)}</p>"],
        figures,
    )
