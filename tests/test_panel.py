"""The survival panel (account_months) on hand-built cases: rows, censoring and the no-look-ahead rule."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

from pipelines.settings import BuildSettings

from tests.conftest import INTERACTION_HEADER

ONE_ACCOUNT = [{"account_id": "A", "signup_date": "2024-01-10", "churn_date": "", "mrr": "100", "plan": "Starter"}]


def by_month(panel: list[dict]) -> dict[str, dict]:
    return {str(r["month_start"]): r for r in panel}


def test_account_months_rows_are_clipped_to_signup_and_as_of(build_rows):
    built = build_rows(ONE_ACCOUNT, [], as_of=date(2024, 4, 15))
    panel = built.panel("A")
    assert [(str(r["month_start"]), r["start_day"], r["stop_day"], r["churned"]) for r in panel] == [
        ("2024-01-01", 0, 22, 0),  # signup Jan 10 -> Feb 1
        ("2024-02-01", 22, 51, 0),
        ("2024-03-01", 51, 82, 0),
        ("2024-04-01", 82, 96, 0),  # censored at the as-of date, Apr 15
    ]


def test_account_months_churn_on_the_first_closes_the_previous_month(build_rows):
    accounts = [
        {"account_id": "A", "signup_date": "2024-01-10", "churn_date": "2024-03-01", "mrr": "100"},
        {"account_id": "B", "signup_date": "2024-01-10", "churn_date": "2024-03-15", "mrr": "100"},
    ]
    built = build_rows(accounts, [], as_of=date(2024, 6, 30))
    a = built.panel("A")
    assert [(str(r["month_start"]), r["stop_day"], r["churned"]) for r in a] == [
        ("2024-01-01", 22, 0),
        ("2024-02-01", 51, 1),  # no zero-length March row
    ]
    b = built.panel("B")
    assert [(str(r["month_start"]), r["stop_day"], r["churned"]) for r in b][-1] == ("2024-03-01", 65, 1)
    assert sum(r["churned"] for r in b) == 1


def test_account_survival_churn_after_as_of_is_censored(build_rows):
    accounts = [
        {"account_id": "A", "signup_date": "2024-01-01", "churn_date": "2024-09-01", "mrr": "100"},
        {"account_id": "B", "signup_date": "2024-01-01", "churn_date": "2024-05-01", "mrr": "100"},
    ]
    built = build_rows(accounts, [], as_of=date(2024, 6, 30))
    survival = {r["account_id"]: r for r in built.rows("select * from account_survival")}
    assert (survival["A"]["churned"], survival["A"]["duration_days"]) == (0, 181)  # Jan 1 -> Jun 30
    assert (survival["B"]["churned"], survival["B"]["duration_days"]) == (1, 121)
    a_panel = built.panel("A")
    assert sum(r["churned"] for r in a_panel) == 0
    assert a_panel[-1]["stop_day"] == 181


def test_account_months_no_look_ahead_for_resolution_flags(build_rows):
    """An interaction resolved after a month starts must not count in that month's resolution measures."""
    interactions = [{
        "interaction_id": "I1", "account_id": "A", "created_at": "2024-01-20T10:00:00Z",
        "first_response_at": "2024-01-20T12:00:00Z", "resolved_at": "2024-02-10T10:00:00Z",
        "severity": "normal", "csat": "1", "reopens": "2", "handoffs": "3", "escalated": "true",
        "agent_updates": "1", "credit_amount": "25",
    }]
    built = build_rows(ONE_ACCOUNT, interactions, as_of=date(2024, 4, 30))
    months = by_month(built.panel("A"))
    feb = months["2024-02-01"]
    # created and first-responded before Feb 1: counted; resolved after Feb 1: not yet known
    assert feb["tickets_90d"] == 1
    assert feb["first_response_hours_median"] == pytest.approx(2.0)
    assert feb["sla_breach_rate"] == 0.0
    for measure in ("resolution_hours_median", "csat_mean", "reopen_rate", "handoff_rate", "escalation_rate",
                    "agent_update_rate", "repeat_contact_rate"):
        assert feb[measure] is None, measure
    assert feb["bad_interactions_90d"] == 0
    assert feb["credits_90d"] == 0.0
    mar = months["2024-03-01"]
    assert mar["resolution_hours_median"] == pytest.approx(21 * 24.0)
    assert (mar["csat_mean"], mar["reopen_rate"], mar["handoff_rate"], mar["escalation_rate"]) == (1.0, 1.0, 1.0, 1.0)
    assert mar["agent_update_rate"] == 1.0
    assert mar["bad_interactions_90d"] == 1
    assert mar["credited_bad_interactions_90d"] == 1
    assert mar["credits_90d"] == 25.0


def test_account_months_first_response_after_start_is_not_counted(build_rows):
    interactions = [{
        "interaction_id": "I1", "account_id": "A", "created_at": "2024-01-31T20:00:00Z",
        "first_response_at": "2024-02-01T09:00:00Z", "severity": "normal",
    }]
    built = build_rows(ONE_ACCOUNT, interactions, as_of=date(2024, 3, 31))
    months = by_month(built.panel("A"))
    assert months["2024-02-01"]["tickets_90d"] == 1
    assert months["2024-02-01"]["first_response_hours_median"] is None
    assert months["2024-02-01"]["sla_breach_rate"] is None
    assert months["2024-02-01"]["bad_interactions_90d"] == 0
    # 13 h against an 8 h target: a breach, felt once the response came
    assert months["2024-03-01"]["first_response_hours_median"] == pytest.approx(13.0)
    assert months["2024-03-01"]["sla_breach_rate"] == 1.0
    assert months["2024-03-01"]["bad_interactions_90d"] == 1


def test_account_months_window_is_the_90_days_strictly_before_the_start(build_rows):
    accounts = [{"account_id": "A", "signup_date": "2023-01-01", "churn_date": "", "mrr": "1"}]
    start = "2024-04-01"  # 90 days before is 2024-01-02 (2024 is a leap year)
    interactions = [
        {"interaction_id": "in_first_instant", "account_id": "A", "created_at": "2024-01-02T00:00:00Z"},
        {"interaction_id": "just_too_old", "account_id": "A", "created_at": "2024-01-01T23:59:59Z"},
        {"interaction_id": "last_instant", "account_id": "A", "created_at": "2024-03-31T23:59:59Z"},
        {"interaction_id": "at_the_start", "account_id": "A", "created_at": "2024-04-01T00:00:00Z"},
    ]
    built = build_rows(accounts, interactions, as_of=date(2024, 4, 30))
    assert by_month(built.panel("A"))[start]["tickets_90d"] == 2


def test_account_months_repeat_contact_counts_only_once_known(build_rows):
    interactions = [
        {"interaction_id": "I1", "account_id": "A", "created_at": "2024-01-20T10:00:00Z",
         "resolved_at": "2024-01-28T10:00:00Z"},
        # the customer comes back 6 days after the resolution: a repeat contact, known on Feb 3
        {"interaction_id": "I2", "account_id": "A", "created_at": "2024-02-03T10:00:00Z",
         "resolved_at": "2024-02-04T10:00:00Z"},
    ]
    built = build_rows(ONE_ACCOUNT, interactions, as_of=date(2024, 3, 31))
    months = by_month(built.panel("A"))
    assert months["2024-02-01"]["repeat_contact_rate"] is None  # neither the contact nor the 7 days had come
    # March: I1 was repeated; I2's 7 days passed on Feb 11 with no contact
    assert months["2024-03-01"]["repeat_contact_rate"] == pytest.approx(0.5)


def test_account_months_missing_optional_columns_are_not_available_not_zero(build_rows):
    header = ["interaction_id", "account_id", "created_at"]
    interactions = [{"interaction_id": "I1", "account_id": "A", "created_at": "2024-01-20T10:00:00Z"}]
    built = build_rows(ONE_ACCOUNT, interactions, as_of=date(2024, 3, 31), interaction_header=header)
    feb = by_month(built.panel("A"))["2024-02-01"]
    assert feb["tickets_90d"] == 1
    for measure in ("first_response_hours_median", "csat_mean", "reopen_rate", "credits_90d",
                    "bad_interactions_90d", "credited_bad_interactions_90d"):
        assert feb[measure] is None, measure
    available = built.rows("select * from interaction_columns_available")[0]
    assert available["has_created_at"] and not available["has_csat"] and not available["can_detect_bad"]


def test_account_months_no_interactions_gives_zero_counts_and_null_rates(build_rows):
    built = build_rows(ONE_ACCOUNT, [], as_of=date(2024, 3, 31))
    feb = by_month(built.panel("A"))["2024-02-01"]
    assert (feb["tickets_90d"], feb["bad_interactions_90d"], feb["credits_90d"]) == (0, 0, 0.0)
    assert feb["reopen_rate"] is None and feb["first_response_hours_median"] is None


def test_account_months_bad_interactions_count_each_kind_once(build_rows):
    common = {"account_id": "A", "severity": "high", "first_response_at": "", "resolved_at": "2024-01-25T00:00:00Z"}
    interactions = [
        # breached: 5 h against the 4 h high-severity target
        {**common, "interaction_id": "breach", "created_at": "2024-01-20T00:00:00Z",
         "first_response_at": "2024-01-20T05:00:00Z"},
        {**common, "interaction_id": "low_csat", "created_at": "2024-01-21T00:00:00Z", "csat": "2"},
        {**common, "interaction_id": "fine", "created_at": "2024-01-22T00:00:00Z", "csat": "3", "handoffs": "1"},
        # breached and reopened: still one bad interaction
        {**common, "interaction_id": "both", "created_at": "2024-01-23T00:00:00Z",
         "first_response_at": "2024-01-23T09:00:00Z", "reopens": "1"},
    ]
    built = build_rows(ONE_ACCOUNT, interactions, as_of=date(2024, 3, 31))
    feb = by_month(built.panel("A"))["2024-02-01"]
    assert feb["tickets_90d"] == 4
    assert feb["bad_interactions_90d"] == 3
    assert feb["sla_breach_rate"] == 1.0  # only the two with a first response are eligible


def test_account_months_segment_and_mrr_columns(build_rows):
    mrr_history = [["A", "2024-01", "100"], ["A", "2024-03-01", "150"]]
    built = build_rows(ONE_ACCOUNT, [], as_of=date(2024, 4, 30), mrr_history=mrr_history)
    panel = built.panel("A")
    assert [r["mrr"] for r in panel] == [100.0, 100.0, 150.0, 150.0]  # February carries January forward
    assert {r["plan"] for r in panel} == {"Starter"}


def test_interaction_metrics_durations_and_sla(build_rows):
    interactions = [{
        "interaction_id": "I1", "account_id": "A", "created_at": "2024-01-20T10:00:00+02:00",
        "first_response_at": "2024-01-20T09:30:00Z", "resolved_at": "2024-01-21T08:00:00Z", "severity": "Urgent",
    }]
    built = build_rows(ONE_ACCOUNT, interactions, as_of=date(2024, 3, 31))
    row = built.rows("select * from interaction_metrics")[0]
    # 10:00+02:00 is 08:00 UTC
    assert row["first_response_hours"] == pytest.approx(1.5)
    assert row["resolution_hours"] == pytest.approx(24.0)
    assert (row["severity"], row["sla_target_hours"], row["sla_breached"]) == ("urgent", 1.0, True)


def test_interaction_metrics_sla_targets_come_from_settings(build_rows):
    interactions = [{
        "interaction_id": "I1", "account_id": "A", "created_at": "2024-01-20T00:00:00Z",
        "first_response_at": "2024-01-20T01:30:00Z", "severity": "urgent",
    }]
    built = build_rows(ONE_ACCOUNT, interactions, as_of=date(2024, 3, 31), sla_hours={"urgent": 2})
    assert built.rows("select sla_breached from interaction_metrics")[0]["sla_breached"] is False


def test_interaction_columns_header_has_every_optional_column():
    # the conftest header covers the full contract, so the other tests exercise every optional measure
    from pipelines.contract import INTERACTIONS

    assert set(INTERACTIONS.column_names) - {"channel"} == set(INTERACTION_HEADER)


def test_panel_measure_coverage_reports_shares(build_rows):
    header = ["interaction_id", "account_id", "created_at", "resolved_at", "csat"]
    interactions = [{"interaction_id": "I1", "account_id": "A", "created_at": "2024-01-20T10:00:00Z",
                     "resolved_at": "2024-01-21T10:00:00Z", "csat": "4"}]
    built = build_rows(ONE_ACCOUNT, interactions, as_of=date(2024, 5, 31), interaction_header=header)
    coverage = {r["measure"]: r for r in built.rows("select * from panel_measure_coverage")}
    # 5 rows (Jan..May); Feb, Mar and Apr see the January interaction in their 90-day window
    assert coverage["csat_mean"]["n_rows"] == 5
    assert coverage["csat_mean"]["n_rows_with_value"] == 3
    assert coverage["csat_mean"]["share_with_value"] == pytest.approx(0.6)
    assert coverage["first_response_hours_median"]["n_rows_with_value"] == 0  # no first_response_at column


def test_panel_built_in_parts_of_accounts_equals_the_panel_built_at_once(small_demo_database, tmp_path, monkeypatch):
    """At scale the service measures are built one part of the accounts at a time (their exact medians do
    not spill to disk); the parts must add up to exactly the panel built in one go."""
    import pipelines.build_run as build_run
    from pipelines.build import build_database

    db_path, demo = small_demo_database
    with duckdb.connect(str(db_path), read_only=True) as con:
        n_interactions = con.execute("select count(*) from interaction_metrics").fetchone()[0]
        whole = con.execute("select * from account_months order by account_id, month_start").df()
    monkeypatch.setattr(build_run, "ROWS_PER_PART", n_interactions // 5)  # 5 or 6 parts
    parts_db = tmp_path / "parts.duckdb"
    build_database(demo.accounts, demo.interactions, parts_db, mrr_history=demo.mrr_history,
                   settings=BuildSettings(as_of=demo.as_of))
    with duckdb.connect(str(parts_db), read_only=True) as con:
        in_parts = con.execute("select * from account_months order by account_id, month_start").df()
    pd.testing.assert_frame_equal(in_parts, whole, check_exact=False, rtol=1e-12)


def test_account_months_case_mix_shares_use_tickets_created_before_the_row(build_rows):
    """Severity and channel are known at creation: every ticket created in the trailing window counts,
    a ticket without the value is left out of the share, and a row with no such ticket is NULL."""
    header = INTERACTION_HEADER + ["channel"]
    tickets = [
        {"interaction_id": "T1", "account_id": "A", "created_at": "2024-02-05 10:00:00", "severity": "urgent",
         "channel": "Chat"},
        {"interaction_id": "T2", "account_id": "A", "created_at": "2024-02-06 10:00:00", "severity": "low",
         "channel": " email "},
        {"interaction_id": "T3", "account_id": "A", "created_at": "2024-02-07 10:00:00", "severity": "HIGH",
         "channel": "phone"},
        {"interaction_id": "T4", "account_id": "A", "created_at": "2024-02-08 10:00:00", "severity": "",
         "channel": ""},
        # created in March: counts from April's row on, never in March's own row
        {"interaction_id": "T5", "account_id": "A", "created_at": "2024-03-20 10:00:00", "severity": "normal",
         "channel": "web"},
    ]
    built = build_rows(ONE_ACCOUNT, tickets, as_of=date(2024, 4, 30), interaction_header=header)
    months = by_month(built.panel("A"))

    assert months["2024-02-01"]["high_priority_share_90d"] is None  # no ticket before Feb 1
    assert months["2024-02-01"]["live_channel_share_90d"] is None
    assert months["2024-03-01"]["tickets_90d"] == 4
    assert months["2024-03-01"]["high_priority_share_90d"] == pytest.approx(2 / 3)  # urgent, high of 3 with a severity
    assert months["2024-03-01"]["live_channel_share_90d"] == pytest.approx(2 / 3)  # chat, phone of 3 with a channel
    assert months["2024-04-01"]["high_priority_share_90d"] == pytest.approx(2 / 4)
    assert months["2024-04-01"]["live_channel_share_90d"] == pytest.approx(2 / 4)
