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
    # revenue kept so far grows as the square of the months (each month keeps more of the accounts that would
    # have left by then): 5,000 × m², $720K by the end of the year
    "revenue_kept": {"estimate": 720_000.0, "ci_lower": 540_000.0, "ci_upper": 900_000.0,
                     "by_month": [{"month": m, "days": m * 365.25 / 12, "revenue_kept": 5_000.0 * m * m}
                                  for m in range(1, 13)]},
    "horizon_days": 365, "accounts": 3000, "changes": [], "notes": ["an association, not proof of cause"],
}


def test_roi_is_revenue_kept_over_the_horizon_against_the_cost_over_the_horizon():
    economics = investment_view.roi(RESULT, 300_000.0)
    assert economics["horizon_cost"] == pytest.approx(300_000.0)
    assert economics["roi_estimate"] == pytest.approx(1.4)  # (720K - 300K) / 300K
    assert economics["roi_ci_lower"] == pytest.approx(0.8)  # (540K - 300K) / 300K
    # half the horizon: half the cost, and the revenue of the first six months only
    half = {**RESULT, "horizon_days": 182, "revenue_kept": {
        **RESULT["revenue_kept"], "estimate": 180_000.0, "by_month": RESULT["revenue_kept"]["by_month"][:6]}}
    assert investment_view.roi(half, 300_000.0)["roi_estimate"] == pytest.approx(180_000 / (300_000 * 182 / 365) - 1)
    assert investment_view.roi(RESULT, None)["roi_estimate"] is None
    assert investment_view.roi(RESULT, 0.0)["payback_months_estimate"] is None


def test_payback_is_where_revenue_kept_so_far_meets_the_cost_so_far_whatever_the_horizon():
    """5,000 m² against 25,000 m a month: they meet at month 5 (6.7 at the interval's low end, 3.75/4 of the
    revenue); the same month at a one-year or a half-year horizon; beyond the horizon it is not within it."""
    economics = investment_view.roi(RESULT, 300_000.0)
    assert economics["payback_months_estimate"] == pytest.approx(5.0, rel=0.02)
    assert economics["payback_months_ci_lower"] == pytest.approx(20 / 3, rel=0.02)
    half = {**RESULT, "horizon_days": 182, "revenue_kept": {**RESULT["revenue_kept"],
                                                            "by_month": RESULT["revenue_kept"]["by_month"][:6]}}
    assert investment_view.roi(half, 300_000.0)["payback_months_estimate"] == economics["payback_months_estimate"]
    dear = investment_view.roi(RESULT, 1_000_000.0)  # 83,000 a month: met at month 16.7, after the year
    assert dear["payback_months_estimate"] is None
    tiles = {t["label"]: t for t in investment_view.tiles(RESULT, dear)}
    assert tiles["Payback"]["value"] == "not within the horizon"


def test_a_change_for_the_worse_reads_as_accounts_and_arr_lost():
    worse = {**RESULT, "accounts_kept": {"estimate": -79.1, "ci_lower": -95.0, "ci_upper": -60.0},
             "arr_kept": {"estimate": -900_000.0, "ci_lower": -1.1e6, "ci_upper": -7e5},
             "revenue_kept": {**RESULT["revenue_kept"], "estimate": -400_000.0}}
    labels = {t["label"]: t["value"] for t in investment_view.tiles(worse, investment_view.roi(worse, None))}
    assert labels["Accounts lost"] == "79.1" and labels["ARR lost"] == "$900.0K"
    assert labels["Revenue lost in 365 days"] == "$400.0K" and labels["ROI"] == "—"


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
    assert by_name["payback_months"]["estimate"] == pytest.approx(5.0, rel=0.02)
    assert by_name["revenue_kept_over_horizon"]["estimate"] == 720_000.0


def test_overview_html_embeds_plotly_once_and_escapes_text():
    headline = [{"label": "ARR", "value": "$5.0M", "delta": "+$1.0M vs a year earlier"}]
    page = report.overview_html({"as_of_date": date(2026, 6, 30)}, ("plan=<Starter>",),
                                headline, ["<b>bold</b> claim"],
                                [charts.empty_figure("a"), charts.empty_figure("b")])
    assert page.count("plotly.js v") <= 2 and "Plotly.newPlot" in page
    assert "Plan = &lt;Starter&gt;" in page and "&lt;b&gt;bold&lt;/b&gt; claim" in page
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


def test_the_overview_says_what_changed_against_a_year_earlier_in_one_sentence():
    from dashboard import findings

    headline = [{"label": "Active accounts", "value": "3,072", "delta": "+883 vs a year earlier"},
                {"label": "ARR", "value": "$52.2M", "delta": "$16.6M vs a year earlier"},
                {"label": "Logo churn (12 months)", "value": "31.3%", "delta": "+1.2 pp vs a year earlier"},
                {"label": "Median lifetime", "value": "665 days", "delta": None}]
    assert findings.year_on_year(headline) == ("Against a year earlier: active accounts 3,072 (+883); ARR $52.2M "
                                               "(+$16.6M); logo churn (12 months) 31.3% (+1.2 pp).")


# --- the one-page brief's lines --------------------------------------------------------------------------------

def test_brief_headline_says_the_change_the_accounts_and_arr_with_intervals_and_the_condition():
    result = {**RESULT, "accounts": 3000}
    sentence = investment_view.headline_sentence(result, [("first_response_hours", "-50%"), ("csat", "+0.5")])
    assert sentence.startswith("First response time −50% and CSAT +0.5 points for the 3,000 active accounts would "
                               "keep about 100 accounts (80 to 120) and $1.2M of ARR ($900.0K to $1.5M) over the "
                               "next year (95% intervals)")
    assert "not proof of cause" in sentence


def test_brief_headline_of_a_change_for_the_worse_says_lose_in_positive_numbers():
    worse = {**RESULT, "horizon_days": 180,
             "accounts_kept": {"estimate": -20.0, "ci_lower": -30.0, "ci_upper": -10.0},
             "arr_kept": {"estimate": -240_000.0, "ci_lower": -360_000.0, "ci_upper": -120_000.0}}
    sentence = investment_view.headline_sentence(worse, [("first_response_hours", "+50%")])
    assert "would lose about 20 accounts (10 to 30) and $240.0K of ARR ($120.0K to $360.0K) over the next 180 days" \
        in sentence


def test_brief_overlap_and_stability_lines():
    overlap = {**RESULT, "overlap": [
        {"factor": "first_response_hours", "accounts": 100, "outside": 5, "share_outside": 0.05, "warn": False},
        {"factor": "csat", "accounts": 100, "outside": 40, "share_outside": 0.4, "warn": True}]}
    assert investment_view.overlap_line(overlap) == (
        "Overlap: for 40% of the accounts, the changed CSAT lies outside what accounts of similar case mix show; the "
        "estimate stays beyond what the data show, so treat it with care.")
    stability = pd.DataFrame({"factor": ["csat"] * 3, "term": ["csat"] * 3, "step": ["unadjusted", "+ plan", "+ all"],
                              "hazard_ratio": [0.7, 0.8, 0.9], "ci_lower": [0.6, 0.7, 0.8], "ci_upper": [0.8, 0.9, 1.0]})
    changed = {**RESULT, "changes": [{"factor": "csat"}]}
    assert investment_view.stability_line(changed, stability) == (
        "Stability: CSAT's hazard ratio is 0.70 unadjusted and 0.90 (0.80 to 1.00) with every confounder.")
    assert investment_view.stability_line(changed, stability.iloc[:0]) == (
        "Stability: no stepwise fits stored for these factors.")
