"""Exports an executive forwards: the investment summary and the overview report, standalone and offline."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest

from dashboard import charts, investment_view, report

RESULT = {
    "accounts_kept": {"estimate": 100.0, "ci_lower": 80.0, "ci_upper": 120.0},
    "arr_kept": {"estimate": 1_200_000.0, "ci_lower": 900_000.0, "ci_upper": 1_500_000.0},
    "baseline": {"expected_churned_accounts": 700.0, "expected_lost_arr": 9e6},
    "scenario": {"expected_churned_accounts": 600.0, "expected_lost_arr": 7.8e6},
    "horizon_days": 365, "accounts": 3000, "changes": [], "notes": ["an association, not proof of cause"],
}


def test_roi_and_payback_follow_arr_kept():
    economics = investment_view.roi(RESULT, 300_000.0)
    assert economics["roi_estimate"] == pytest.approx(3.0)  # (1.2M - 0.3M) / 0.3M
    assert economics["roi_ci_lower"] == pytest.approx(2.0)
    assert economics["payback_months_estimate"] == pytest.approx(3.0)  # 12 × 0.3M / 1.2M
    assert investment_view.roi(RESULT, 0.0)["roi_estimate"] is None


def test_investment_summary_html_is_standalone_with_figures():
    economics = investment_view.roi(RESULT, 300_000.0)
    markdown = investment_view.summary_markdown(RESULT, economics, [("first_response_hours", "-50%")], "2026-06-30", ())
    assert "First response time -50%" in markdown and "$1.2M" in markdown
    figure = charts.kept_interval("ARR kept", 1.2e6, 9e5, 1.5e6, True)
    page = investment_view.summary_html(markdown, [figure])
    assert "<strong>$1.2M</strong>" in page and "an association, not proof of cause" in page
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # plotly.js itself is inside the file
    assert not re.search(r"<script[^>]+src=", page)  # nothing loaded from elsewhere


def test_investment_summary_table_rows():
    rows = investment_view.summary_table(RESULT, investment_view.roi(RESULT, 300_000.0))
    by_name = {r["quantity"]: r for r in rows}
    assert by_name["arr_kept"]["ci_upper"] == 1_500_000.0
    assert by_name["payback_months"]["estimate"] == pytest.approx(3.0)


def test_overview_html_embeds_plotly_once_and_escapes_text():
    headline = [{"label": "ARR", "value": "$5.0M", "delta": "+$1.0M vs a year earlier"}]
    page = report.overview_html({"as_of_date": date(2026, 6, 30)}, ("plan=<Starter>",),
                                headline, ["<b>bold</b> claim"],
                                [charts.empty_figure("a"), charts.empty_figure("b")])
    assert page.count("plotly.js v") <= 2 and "Plotly.newPlot" in page
    assert "plan=&lt;Starter&gt;" in page and "&lt;b&gt;bold&lt;/b&gt; claim" in page
    assert not re.search(r"<script[^>]+src=", page)


def test_overview_html_says_where_filtered_findings_come_from():
    from dashboard import findings

    headline = [{"label": "ARR", "value": "$5.0M", "delta": None}]
    note = findings.findings_source_note(filtered=True, refitted=False)
    page = report.overview_html({"as_of_date": date(2026, 6, 30)}, ("plan=Starter",), headline, ["a finding"], [],
                                note)
    assert "fitted at build time on every account: the filters do not apply to them" in page
    assert findings.findings_source_note(filtered=False, refitted=False) == ""
    assert "refitted on the filtered accounts" in findings.findings_source_note(filtered=True, refitted=True)
    # a csm's book: the models are every account's, and the note says so even without a filter
    assert "every account: your scope does not apply" in findings.findings_source_note(False, False, scoped=True)


def test_findings_describe_a_hazard_ratio_as_one_and_name_the_adjustment():
    from dashboard import findings

    own = pd.DataFrame({"term": ["first_response_hours", "csat"], "unit": ["per doubling", "per point lower"],
                        "hazard_ratio": [1.36, 1.02], "ci_lower": [1.20, 0.90], "ci_upper": [1.55, 1.15],
                        "p_value": [0.001, 0.7], "adjusted_for": ["plan, share of urgent or high tickets"] * 2,
                        "e_value": [2.07, 1.16]})
    (sentence,) = findings.service_findings(own)
    assert sentence == ("Accounts whose median first response time doubled had a churn hazard ratio of 1.36 "
                        "(95% CI 1.20–1.55), adjusted for plan, share of urgent or high tickets (E-value 2.07).")
    assert "as often" not in sentence
