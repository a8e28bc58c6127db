"""Unit tests for each model file in sql/20_metrics, sql/30_panel and sql/40_marts, one file at a time.

Every test creates the tables a file reads (the ones its import CTEs name) from a few literal rows in an
in-memory DuckDB, runs that one file with its parameters bound the way the build binds them, and compares
the rows it makes with literal expected rows. Nothing upstream runs, so a failure points at one file.
"""

from __future__ import annotations

import inspect
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from pipelines import build_run, sqlrun
from pipelines.build_fill import Filling
from pipelines.plan import read_plan
from pipelines.settings import HIGH_PRIORITY_SEVERITIES, LIVE_CHANNELS

MODEL_DIRS = ("20_metrics", "30_panel", "40_marts")
LAYER_DIR_OF = {path.stem: folder for folder in MODEL_DIRS for path in (sqlrun.SQL_DIR / folder).glob("*.sql")}

# The build's parameters (pipelines/build_run.py, parameters), with the settings' defaults
PARAMS = {
    "as_of": date(2024, 6, 30),
    "earliest_plausible": build_run.EARLIEST_PLAUSIBLE_DATE,
    "window_days": 90,
    "repeat_contact_days": 7,
    "high_priority_severities": list(HIGH_PRIORITY_SEVERITIES),
    "live_channels": list(LIVE_CHANNELS),
}

# Column types of the tables the models read, as the upstream files make them
STG_ACCOUNTS = ("source_row bigint, account_id varchar, signup_date date, churn_date date, mrr double, "
                "churn_reason varchar, churn_cause varchar")
STG_INTERACTIONS = (
    "source_row bigint, interaction_id varchar, account_id varchar, created_at timestamp, first_response_at timestamp, "
    "resolved_at timestamp, channel varchar, severity varchar, csat double, reopens integer, handoffs integer, "
    "escalated boolean, agent_updates integer, credit_amount double"
)
STG_MRR_HISTORY = "source_row bigint, account_id varchar, month_start date, mrr double"
STG_ACCOUNT_SEGMENTS = "account_id varchar, plan varchar"
SLA_TARGET_HOURS = "severity varchar, target_hours double"
ANALYSIS_ACCOUNTS = "account_id varchar"
ACCOUNT_CELLS = "account_id varchar, cell_id integer"
ANALYSIS_CELLS = "cell_id integer"
REVENUE_BASIS = "revenue_basis varchar"
INTERACTION_COLUMNS_AVAILABLE = (
    "has_interaction_id boolean, has_account_id boolean, has_created_at boolean, has_first_response_at boolean, "
    "has_resolved_at boolean, has_channel boolean, has_severity boolean, has_csat boolean, has_reopens boolean, "
    "has_handoffs boolean, has_escalated boolean, has_agent_updates boolean, has_credit_amount boolean, "
    "can_detect_bad boolean"
)
INTERACTION_METRICS = (
    "interaction_id varchar, account_id varchar, created_at timestamp, first_response_at timestamp, "
    "resolved_at timestamp, channel varchar, severity varchar, first_response_hours double, resolution_hours double, "
    "sla_target_hours double, sla_breached boolean, reopened boolean, handed_off boolean, handoffs integer, "
    "escalated boolean, repeat_contact boolean, repeat_contact_known_at timestamp, agent_updates integer, "
    "credit_amount double, csat double, is_bad_interaction boolean, bad_known_at timestamp, "
    "credited_bad_known_at timestamp"
)
CALENDAR_MONTHS = "month_start date, next_month_start date, month_index integer"
ACCOUNT_MONTH_SPANS = (
    "account_id varchar, month_start date, month_index integer, row_start_date date, row_stop_date date, "
    "start_day integer, stop_day integer, churned integer, churn_cause varchar"
)
SERVICE_MEASURES = (
    "high_priority_share_90d double, live_channel_share_90d double, first_response_hours_median double, "
    "resolution_hours_median double, sla_breach_rate double, csat_mean double, reopen_rate double, "
    "handoff_rate double, escalation_rate double, repeat_contact_rate double, agent_update_rate double"
)
ACCOUNT_MONTH_SERVICE = (
    f"account_id varchar, month_start date, tickets_90d integer, {SERVICE_MEASURES}, credits_known_90d double, "
    "bad_interactions_90d integer, credited_bad_interactions_90d integer"
)
ACCOUNT_MONTH_MRR = "account_id varchar, month_start date, mrr double, mrr_basis varchar"
ACCOUNT_MONTHS = (
    f"account_id varchar, month_start date, start_day integer, stop_day integer, churned integer, mrr double, "
    f"tickets_90d integer, {SERVICE_MEASURES}, credits_90d double, bad_interactions_90d integer, "
    "credited_bad_interactions_90d integer, plan varchar"
)
ACCOUNT_SURVIVAL = "account_id varchar, signup_cohort_month date, churned integer, churn_date date"

SLA_TARGETS = [("urgent", 1.0), ("high", 4.0), ("normal", 8.0), ("low", 24.0)]
CALENDAR_2024_Q1 = [
    (date(2024, 1, 1), date(2024, 2, 1), 0),
    (date(2024, 2, 1), date(2024, 3, 1), 1),
    (date(2024, 3, 1), date(2024, 4, 1), 2),
]
ALL_INTERACTION_COLUMNS = tuple([True] * 14)


@pytest.fixture
def con():
    connection = duckdb.connect()
    connection.execute("set TimeZone = 'UTC'")  # as the build sets it
    yield connection
    connection.close()


def given(con: duckdb.DuckDBPyConnection, table: str, columns: str, rows: list[tuple | dict]) -> None:
    """Create `table` with `columns` ("name type, ...") holding `rows`: tuples in column order (missing trailing
    values NULL), or dicts naming only the columns that matter (the rest NULL)."""
    con.execute(f"create table {table} ({columns})")
    names = [column.split()[0] for column in columns.split(",")]
    # a tuple shorter than the columns leaves the rest NULL, so a column added later does not touch every test
    values = [[row.get(name) for name in names] if isinstance(row, dict)
              else list(row) + [None] * (len(names) - len(row)) for row in rows]
    if values:
        con.executemany(f"insert into {table} values ({', '.join('?' for _ in names)})", values)


def run_model(con: duckdb.DuckDBPyConnection, table: str, n_parts: int = 1, **params) -> None:
    """Create `table` from its one SQL file, as build_run.create_table does (in parts, for a table whose header
    says it is built in parts)."""
    sql = sqlrun.sql_text(LAYER_DIR_OF[table], table)
    bound = {**PARAMS, **params}
    if read_plan().step(table).parts:
        for part in range(n_parts):
            verb = f"create table {table} as" if part == 0 else f"insert into {table}"
            sqlrun.run_query(con, f"{verb}\n{sql}", {**bound, "n_parts": n_parts, "part": part})
    else:
        sqlrun.run_query(con, f"create table {table} as\n{sql}", bound)


def rows(con: duckdb.DuckDBPyConnection, table: str, columns: str = "*", order_by: str | None = None) -> list[tuple]:
    """The table's rows (the chosen columns), in `order_by` order, or as stored when the file promises an order."""
    return con.execute(f"select {columns} from {table}" + (f" order by {order_by}" if order_by else "")).fetchall()


def at(day: str) -> datetime:
    return datetime.fromisoformat(day)


# --- 20_metrics ----------------------------------------------------------------------------------

METRICS_INTERACTIONS = [
    # A1: breached its SLA (10 h against 8 h) and was followed by I2 within 7 days of resolution
    {"interaction_id": "I1", "account_id": "A1", "created_at": at("2024-02-01 09:00"),
     "first_response_at": at("2024-02-01 19:00"), "resolved_at": at("2024-02-02 09:00"), "channel": "email",
     "severity": "normal", "csat": 4.0, "reopens": 0, "handoffs": 0, "escalated": False, "agent_updates": 1,
     "credit_amount": 0.0},
    # answered exactly at its 1 h target (not a breach), rated 2 (bad at resolution), credited
    {"interaction_id": "I2", "account_id": "A1", "created_at": at("2024-02-05 09:00"),
     "first_response_at": at("2024-02-05 10:00"), "resolved_at": at("2024-02-05 12:00"), "channel": "chat",
     "severity": "urgent", "csat": 2.0, "reopens": 0, "handoffs": 0, "escalated": True, "agent_updates": 0,
     "credit_amount": 10.0},
    # never answered nor resolved: durations, the repeat outcome and the bad flag stay unknown
    {"interaction_id": "I3", "account_id": "A1", "created_at": at("2024-03-01 08:00"), "channel": "phone",
     "reopens": 1, "handoffs": 2},
    # A2: no later contact, but the 7-day window ends after the as-of date: not yet known
    {"interaction_id": "I4", "account_id": "A2", "created_at": at("2024-06-27 09:00"),
     "first_response_at": at("2024-06-27 13:00"), "resolved_at": at("2024-06-28 09:00"), "channel": "email",
     "severity": "high", "csat": 5.0, "reopens": 0, "handoffs": 1, "escalated": False, "agent_updates": 2,
     "credit_amount": 0.0},
    # A3: the next contact comes at the very end of the 7-day window, which still counts
    {"interaction_id": "I5", "account_id": "A3", "created_at": at("2024-03-01 09:00"),
     "first_response_at": at("2024-03-01 09:30"), "resolved_at": at("2024-03-01 10:00"), "severity": "low",
     "csat": 3.0, "reopens": 0, "handoffs": 0},
    {"interaction_id": "I6", "account_id": "A3", "created_at": at("2024-03-08 10:00")},
]


@pytest.fixture
def metrics(con):
    given(con, "stg_interactions", STG_INTERACTIONS, METRICS_INTERACTIONS)
    given(con, "sla_target_hours", SLA_TARGET_HOURS, SLA_TARGETS)
    run_model(con, "interaction_metrics")
    return con


def test_interaction_metrics_durations_and_sla_breach(metrics):
    columns = "interaction_id, first_response_hours, resolution_hours, sla_target_hours, sla_breached, reopened, handed_off"
    assert rows(metrics, "interaction_metrics", columns, order_by="interaction_id") == [
        ("I1", 10.0, 24.0, 8.0, True, False, False),
        ("I2", 1.0, 3.0, 1.0, False, False, False),
        ("I3", None, None, None, None, True, True),
        ("I4", 4.0, 24.0, 4.0, False, False, True),
        ("I5", 0.5, 1.0, 24.0, False, False, False),
        ("I6", None, None, None, None, None, None),
    ]


def test_interaction_metrics_repeat_contact_is_known_only_by_the_as_of_date(metrics):
    columns = "interaction_id, repeat_contact, repeat_contact_known_at"
    assert rows(metrics, "interaction_metrics", columns, order_by="interaction_id") == [
        ("I1", True, at("2024-02-05 09:00")),  # I2 came 3 days after resolution
        ("I2", False, at("2024-02-12 12:00")),  # I3 came after the 7-day window closed
        ("I3", None, None),  # not resolved
        ("I4", None, at("2024-07-05 09:00")),  # the window closes after the as-of date
        ("I5", True, at("2024-03-08 10:00")),
        ("I6", None, None),
    ]


def test_interaction_metrics_bad_interaction_is_known_at_its_first_sign(metrics):
    columns = "interaction_id, is_bad_interaction, bad_known_at, credited_bad_known_at"
    assert rows(metrics, "interaction_metrics", columns, order_by="interaction_id") == [
        ("I1", True, at("2024-02-01 19:00"), None),  # the breach shows at the first response; no credit
        ("I2", True, at("2024-02-05 12:00"), at("2024-02-05 12:00")),  # the rating and credit show at resolution
        ("I3", False, None, None),  # reopened and handed off twice, but never resolved
        ("I4", False, None, None),
        ("I5", False, None, None),
        ("I6", False, None, None),
    ]


# --- 30_panel ------------------------------------------------------------------------------------

def test_calendar_months_run_from_the_first_signup_month_to_the_as_of_month(con):
    given(con, "stg_accounts", STG_ACCOUNTS, [
        (1, "A1", date(2024, 2, 3), None, 10.0),
        (2, "A2", date(2024, 1, 15), None, 10.0),
    ])
    run_model(con, "calendar_months", as_of=date(2024, 4, 10))
    assert rows(con, "calendar_months", order_by="month_start") == [
        (date(2024, 1, 1), date(2024, 2, 1), 0),
        (date(2024, 2, 1), date(2024, 3, 1), 1),
        (date(2024, 3, 1), date(2024, 4, 1), 2),
        (date(2024, 4, 1), date(2024, 5, 1), 3),
    ]


def test_account_month_spans_are_clipped_to_signup_and_churn_or_as_of(con):
    given(con, "stg_accounts", STG_ACCOUNTS, [
        (1, "A1", date(2024, 1, 15), date(2024, 3, 1), 10.0, "too_expensive", "voluntary"),  # a churn on the 1st closes February
        (2, "A2", date(2024, 3, 20), date(2024, 5, 1), 10.0, "payment_failed", "involuntary"),  # churns after the as-of date: still active
        (3, "A3", date(2024, 4, 10), None, 10.0),  # signs up on the as-of date: no day at risk yet
    ])
    given(con, "calendar_months", CALENDAR_MONTHS, CALENDAR_2024_Q1 + [(date(2024, 4, 1), date(2024, 5, 1), 3)])
    run_model(con, "account_month_spans", as_of=date(2024, 4, 10))
    assert rows(con, "account_month_spans", order_by="account_id, month_start") == [
        # the cause rides on the churn row only; a churn after as-of has none yet
        ("A1", date(2024, 1, 1), 0, date(2024, 1, 15), date(2024, 2, 1), 0, 17, 0, None),
        ("A1", date(2024, 2, 1), 1, date(2024, 2, 1), date(2024, 3, 1), 17, 46, 1, "voluntary"),
        ("A2", date(2024, 3, 1), 2, date(2024, 3, 20), date(2024, 4, 1), 0, 12, 0, None),
        ("A2", date(2024, 4, 1), 3, date(2024, 4, 1), date(2024, 4, 10), 12, 21, 0, None),
    ]


SERVICE_SPANS = [
    {"account_id": "A1", "month_start": date(2024, 3, 1), "row_start_date": date(2024, 3, 1)},
    {"account_id": "A1", "month_start": date(2024, 4, 1), "row_start_date": date(2024, 4, 1)},
    {"account_id": "A2", "month_start": date(2024, 4, 1), "row_start_date": date(2024, 4, 1)},
]
SERVICE_INTERACTIONS = [
    # resolved, rated and credited in February: everything about it is known by March
    {"interaction_id": "X1", "account_id": "A1", "created_at": at("2024-02-10 10:00"), "channel": "Chat ",
     "severity": "urgent", "first_response_at": at("2024-02-10 12:00"), "first_response_hours": 2.0,
     "resolved_at": at("2024-02-11 10:00"), "resolution_hours": 24.0, "sla_breached": True, "csat": 2.0,
     "reopened": False, "handed_off": True, "escalated": False, "repeat_contact": True,
     "repeat_contact_known_at": at("2024-02-15 00:00"), "agent_updates": 1, "credit_amount": 5.0,
     "bad_known_at": at("2024-02-10 12:00"), "credited_bad_known_at": at("2024-02-11 10:00")},
    # created in February, answered at the very start of March and resolved in March: counted in March,
    # measured only from April
    {"interaction_id": "X2", "account_id": "A1", "created_at": at("2024-02-28 09:00"), "channel": "email",
     "severity": "normal", "first_response_at": at("2024-03-01 00:00"), "first_response_hours": 39.0,
     "resolved_at": at("2024-03-05 09:00"), "resolution_hours": 120.0, "sla_breached": True, "csat": 5.0,
     "reopened": True, "handed_off": False, "escalated": True, "repeat_contact": False,
     "repeat_contact_known_at": at("2024-03-12 09:00"), "agent_updates": 0, "credit_amount": 0.0,
     "bad_known_at": at("2024-03-01 00:00")},
    # still open: counted, with no case mix and no measures
    {"interaction_id": "X3", "account_id": "A1", "created_at": at("2024-03-15 09:00"),
     "reopened": False, "handed_off": False},
    # A2's window for April starts on 2024-01-02: the first is in it, the second a minute too early,
    # and the third starts the row itself (a window ends before the row's start)
    {"interaction_id": "Y1", "account_id": "A2", "created_at": at("2024-01-02 00:00")},
    {"interaction_id": "Y2", "account_id": "A2", "created_at": at("2024-01-01 23:59")},
    {"interaction_id": "Y3", "account_id": "A2", "created_at": at("2024-04-01 00:00")},
]


@pytest.fixture
def service_inputs(con):
    given(con, "account_month_spans", ACCOUNT_MONTH_SPANS, SERVICE_SPANS)
    given(con, "interaction_metrics", INTERACTION_METRICS, SERVICE_INTERACTIONS)
    return con


def test_account_month_service_uses_only_what_was_known_before_the_row_start(service_inputs):
    run_model(service_inputs, "account_month_service")
    # the months of the panel's rows (account_months joins the measures to them)
    panel_months = service_inputs.execute(
        "select s.* from account_month_service as s semi join account_month_spans as p using (account_id, month_start)"
        " order by account_id, month_start").fetchall()
    # account, month, tickets, high priority share, live channel share, first response median, resolution
    # median, SLA breach, CSAT, reopen, handoff, escalation, repeat contact, agent update, credits, bad, credited bad
    assert panel_months == [
        ("A1", date(2024, 3, 1), 2, 0.5, 0.5, 2.0, 24.0, 1.0, 2.0, 0.0, 1.0, 0.0, 1.0, 1.0, 5.0, 1, 1),
        ("A1", date(2024, 4, 1), 3, 0.5, 0.5, 20.5, 72.0, 1.0, 3.5, 0.5, 0.5, 0.5, 0.5, 0.5, 5.0, 2, 1),
        ("A2", date(2024, 4, 1), 1, None, None, None, None, None, None, None, None, None, None, None, None, 0, 0),
    ]


def test_account_month_service_reaches_the_month_starts_after_each_interaction_up_to_the_as_of_date(service_inputs):
    """The measures are grouped by the month starts each interaction's window reaches, without the panel's rows: a
    month past an account's last row (its churn) has measures no panel row reads, and none is past the as-of date."""
    run_model(service_inputs, "account_month_service", as_of=date(2024, 6, 15))
    assert rows(service_inputs, "account_month_service", "account_id, month_start, tickets_90d",
                order_by="account_id, month_start") == [
        ("A1", date(2024, 3, 1), 2), ("A1", date(2024, 4, 1), 3), ("A1", date(2024, 5, 1), 3),
        ("A1", date(2024, 6, 1), 1),  # X3 alone: 1 June is over 90 days after X1 and X2
        # A2 has no panel row before April: its February and March are measured and never read. 1 April's window
        # starts at Y1's very moment; Y3 reaches May and June
        ("A2", date(2024, 2, 1), 2), ("A2", date(2024, 3, 1), 2), ("A2", date(2024, 4, 1), 1),
        ("A2", date(2024, 5, 1), 1), ("A2", date(2024, 6, 1), 1),
    ]


def test_account_month_service_parts_add_up_to_the_whole(service_inputs):
    run_model(service_inputs, "account_month_service")
    whole = rows(service_inputs, "account_month_service", order_by="account_id, month_start")
    service_inputs.execute("drop table account_month_service")
    run_model(service_inputs, "account_month_service", n_parts=3)
    assert rows(service_inputs, "account_month_service", order_by="account_id, month_start") == whole


def test_account_month_mrr_carries_the_last_recorded_value(con):
    given(con, "stg_accounts", STG_ACCOUNTS, [
        (1, "A1", date(2024, 1, 10), None, 100.0),
        (2, "A2", date(2024, 3, 5), None, 50.0),
        (3, "A3", date(2024, 3, 5), None, None),
    ])
    given(con, "account_month_spans", ACCOUNT_MONTH_SPANS, [
        {"account_id": "A1", "month_start": date(2024, month, 1)} for month in (1, 2, 3, 4)
    ] + [{"account_id": "A2", "month_start": date(2024, 3, 1)}, {"account_id": "A3", "month_start": date(2024, 3, 1)}])
    given(con, "stg_mrr_history", STG_MRR_HISTORY, [
        (1, "A1", date(2024, 2, 1), 120.0),
        (2, "A1", date(2024, 4, 1), 150.0),
    ])
    run_model(con, "account_month_mrr")
    assert rows(con, "account_month_mrr", order_by="account_id, month_start") == [
        ("A1", date(2024, 1, 1), 120.0, "carried_back"),  # before the first record
        ("A1", date(2024, 2, 1), 120.0, "recorded"),
        ("A1", date(2024, 3, 1), 120.0, "carried_forward"),
        ("A1", date(2024, 4, 1), 150.0, "recorded"),
        ("A2", date(2024, 3, 1), 50.0, "accounts_file"),  # no history at all
        ("A3", date(2024, 3, 1), None, None),  # no MRR anywhere
    ]


def _panel_inputs(con, available: tuple) -> None:
    given(con, "account_month_spans", ACCOUNT_MONTH_SPANS, [
        ("A1", date(2024, 3, 1), 2, date(2024, 3, 1), date(2024, 4, 1), 50, 81, 0),
        ("A1", date(2024, 4, 1), 3, date(2024, 4, 1), date(2024, 4, 20), 81, 100, 1),
    ])
    given(con, "account_month_service", ACCOUNT_MONTH_SERVICE, [
        {"account_id": "A1", "month_start": date(2024, 3, 1), "tickets_90d": 2, "sla_breach_rate": 0.5,
         "csat_mean": 4.0, "credits_known_90d": 12.5, "bad_interactions_90d": 1, "credited_bad_interactions_90d": 1},
    ])
    given(con, "account_month_mrr", ACCOUNT_MONTH_MRR, [
        ("A1", date(2024, 3, 1), 100.0, "recorded"),
        ("A1", date(2024, 4, 1), 100.0, "carried_forward"),
    ])
    given(con, "interaction_columns_available", INTERACTION_COLUMNS_AVAILABLE, [available])
    given(con, "stg_account_segments", STG_ACCOUNT_SEGMENTS, [("A1", "Pro")])


PANEL_COLUMNS = (
    "account_id, month_start, start_day, stop_day, churned, mrr, tickets_90d, sla_breach_rate, csat_mean, "
    "credits_90d, bad_interactions_90d, credited_bad_interactions_90d, plan"
)


def test_account_months_a_month_without_tickets_counts_zero(con):
    _panel_inputs(con, ALL_INTERACTION_COLUMNS)
    run_model(con, "account_months")
    assert rows(con, "account_months", PANEL_COLUMNS, order_by="month_start") == [
        ("A1", date(2024, 3, 1), 50, 81, 0, 100.0, 2, 0.5, 4.0, 12.5, 1, 1, "Pro"),
        ("A1", date(2024, 4, 1), 81, 100, 1, 100.0, 0, None, None, 0.0, 0, 0, "Pro"),
    ]


def test_account_months_counts_are_null_when_the_input_cannot_tell(con):
    # no credit_amount column, so neither credits nor bad interactions can be told
    available = ALL_INTERACTION_COLUMNS[:12] + (False, False)
    _panel_inputs(con, available)
    run_model(con, "account_months")
    assert rows(con, "account_months", PANEL_COLUMNS, order_by="month_start") == [
        ("A1", date(2024, 3, 1), 50, 81, 0, 100.0, 2, 0.5, 4.0, None, None, None, "Pro"),
        ("A1", date(2024, 4, 1), 81, 100, 1, 100.0, 0, None, None, None, None, None, "Pro"),
    ]


# --- 40_marts ------------------------------------------------------------------------------------

def test_account_survival_censors_at_the_as_of_date(con):
    given(con, "stg_accounts", STG_ACCOUNTS, [
        # churns after the as-of date: censored, so its cause is not yet one
        (1, "A2", date(2024, 3, 20), date(2024, 7, 15), None, "payment_failed", "involuntary"),
        (2, "A1", date(2024, 1, 15), date(2024, 3, 1), 100.0, "too expensive", "voluntary"),
    ])
    given(con, "interaction_metrics", INTERACTION_METRICS, [
        {"interaction_id": "I1", "account_id": "A1", "first_response_hours": 2.0, "resolution_hours": 10.0,
         "csat": 3.0, "reopened": False, "sla_breached": True, "credit_amount": 5.0},
        {"interaction_id": "I2", "account_id": "A1", "first_response_hours": 4.0, "resolution_hours": 30.0,
         "reopened": True, "sla_breached": False},
    ])
    given(con, "stg_account_segments", STG_ACCOUNT_SEGMENTS, [("A1", "Pro"), ("A2", "Basic")])
    run_model(con, "account_survival")
    # account, signup, churn as given, duration days, churned, churn cause, cohort, mrr, interactions, first
    # response median, resolution median, csat, reopen rate, sla breach rate, credits, plan; ordered by account
    assert rows(con, "account_survival") == [
        ("A1", date(2024, 1, 15), date(2024, 3, 1), 46, 1, "voluntary", date(2024, 1, 1), 100.0, 2, 3.0, 20.0, 3.0,
         0.5, 0.5, 5.0, "Pro"),
        ("A2", date(2024, 3, 20), date(2024, 7, 15), 102, 0, None, date(2024, 3, 1), None, 0, None, None, None, None,
         None, None, "Basic"),
    ]


def _kpi_inputs(con, causes: dict[str, str] | None = None) -> None:
    given(con, "calendar_months", CALENDAR_MONTHS, CALENDAR_2024_Q1)
    accounts = [
        (1, "A1", date(2024, 1, 10), None, 100.0),
        (2, "A2", date(2024, 1, 20), date(2024, 3, 1), 60.0),  # a churn on the 1st is February's
        (3, "A3", date(2024, 2, 5), date(2024, 2, 5), 30.0),  # churns on its signup day
        (4, "A4", date(2024, 1, 5), date(2024, 3, 10), 80.0),
        (5, "A5", date(2024, 2, 1), None, 999.0),  # not in the analysis
        (6, "A6", date(2024, 1, 1), date(2024, 4, 10), 80.0),  # churns after the as-of date: active
    ]
    given(con, "stg_accounts", STG_ACCOUNTS, [row + (None, (causes or {}).get(row[1])) for row in accounts])
    given(con, "analysis_accounts", ANALYSIS_ACCOUNTS, [("A1",), ("A2",), ("A3",), ("A4",), ("A6",)])
    mrr = {"A1": [100, 140, 140], "A2": [60, 60], "A3": [None, 30], "A4": [80, 60, 60], "A5": [None, 999],
           "A6": [80, 80, 80]}
    given(con, "account_month_mrr", ACCOUNT_MONTH_MRR, [
        (account, date(2024, month, 1), float(value), "recorded")
        for account, values in mrr.items() for month, value in enumerate(values, start=1) if value is not None
    ])
    given(con, "revenue_basis", REVENUE_BASIS, [("mrr_history",)])


def test_kpi_monthly_counts_and_revenue_movements(con):
    _kpi_inputs(con)
    # the accounts in two segment cells (A5 in one too, but not in the analysis): the KPIs are the sums of both
    given(con, "account_cells", ACCOUNT_CELLS, [("A1", 1), ("A2", 2), ("A3", 1), ("A4", 2), ("A5", 1), ("A6", 2)])
    given(con, "analysis_cells", ANALYSIS_CELLS, [(1,), (2,)])
    run_model(con, "kpi_monthly_cells", as_of=date(2024, 3, 15))
    run_model(con, "kpi_monthly", as_of=date(2024, 3, 15))
    # month, partial, at start, new, churned, churned from start, logo churn rate, starting MRR, new MRR,
    # churned MRR, contraction, expansion, gross and net revenue retention, basis; in month order
    assert rows(con, "kpi_monthly") == [
        (date(2024, 1, 1), False, 0, 4, 0, 0, None, 0.0, 320.0, 0.0, 0.0, 0.0, None, None, "mrr_history"),
        (date(2024, 2, 1), False, 4, 1, 2, 1, 0.25, 320.0, 30.0, 60.0, 20.0, 40.0, 0.75, 0.875, "mrr_history"),
        (date(2024, 3, 1), True, 3, 0, 1, 1, pytest.approx(1 / 3), 280.0, 0.0, 60.0, 0.0, 0.0,
         pytest.approx(220 / 280), pytest.approx(220 / 280), "mrr_history"),
    ]


def test_kpi_monthly_of_one_cell_is_its_own_accounts(con):
    """A filter on segments selects cells: the KPIs of one cell are those of its accounts alone (A2 and A4 here,
    both active at February's start; A2 leaves in February, A4 contracts in it)."""
    _kpi_inputs(con)
    given(con, "account_cells", ACCOUNT_CELLS, [("A1", 1), ("A2", 2), ("A3", 1), ("A4", 2), ("A5", 1), ("A6", 1)])
    given(con, "analysis_cells", ANALYSIS_CELLS, [(2,)])
    run_model(con, "kpi_monthly_cells", as_of=date(2024, 3, 15))
    run_model(con, "kpi_monthly", as_of=date(2024, 3, 15))
    assert rows(con, "kpi_monthly", "month_start, accounts_at_start, new_accounts, churned_accounts, starting_mrr, "
                "churned_mrr, contraction_mrr, expansion_mrr") == [
        (date(2024, 1, 1), 0, 2, 0, 0.0, 0.0, 0.0, 0.0),
        (date(2024, 2, 1), 2, 0, 1, 140.0, 60.0, 20.0, 0.0),
        (date(2024, 3, 1), 1, 0, 1, 60.0, 60.0, 0.0, 0.0),
    ]


def test_kpi_monthly_cells_sums_each_cells_accounts_by_month(con):
    _kpi_inputs(con)
    given(con, "account_cells", ACCOUNT_CELLS, [("A1", 1), ("A2", 2), ("A3", 1), ("A4", 2), ("A5", 1), ("A6", 1)])
    run_model(con, "kpi_monthly_cells", as_of=date(2024, 3, 15))
    # cell, month, at start, new, churned, churned from start, starting MRR, new MRR, churned MRR, expansion,
    # contraction: sums, NULL where no account of the cell had an MRR to sum
    assert rows(con, "kpi_monthly_cells", order_by="cell_id, month_start") == [
        (1, date(2024, 1, 1), None, 0, 2, 0, 0, None, 180.0, None, None, None),
        (1, date(2024, 2, 1), None, 2, 1, 1, 0, 180.0, 30.0, None, 40.0, None),
        (1, date(2024, 3, 1), None, 2, 0, 0, 0, 220.0, None, None, None, None),
        (2, date(2024, 1, 1), None, 0, 2, 0, 0, None, 140.0, None, None, None),
        (2, date(2024, 2, 1), None, 2, 0, 1, 1, 140.0, None, 60.0, None, 20.0),
        (2, date(2024, 3, 1), None, 1, 0, 1, 1, 60.0, None, 60.0, None, None),
    ]


def test_kpi_monthly_causes_splits_each_months_churn_by_its_cause(con):
    """The cells carry each churned account's cause, so churn per cause is a sum like the rest; the causes add up
    to the month's churn in kpi_monthly, and the other counts are untouched by the split."""
    _kpi_inputs(con, causes={"A2": "involuntary", "A3": "voluntary", "A4": "voluntary"})
    given(con, "account_cells", ACCOUNT_CELLS, [("A1", 1), ("A2", 2), ("A3", 1), ("A4", 2), ("A5", 1), ("A6", 2)])
    given(con, "analysis_cells", ANALYSIS_CELLS, [(1,), (2,)])
    run_model(con, "kpi_monthly_cells", as_of=date(2024, 3, 15))
    run_model(con, "kpi_monthly_causes")
    run_model(con, "kpi_monthly", as_of=date(2024, 3, 15))
    # month, cause, churned, churned from start, churned MRR (the MRR of the month before, for one active at start)
    assert rows(con, "kpi_monthly_causes") == [
        (date(2024, 2, 1), "involuntary", 1, 1, 60.0),
        (date(2024, 2, 1), "voluntary", 1, 0, 0.0),  # A3 churned on its signup day: new, not from the start
        (date(2024, 3, 1), "voluntary", 1, 1, 60.0),
    ]
    assert rows(con, "kpi_monthly", "month_start, accounts_at_start, churned_accounts, churned_mrr") == [
        (date(2024, 1, 1), 0, 0, 0.0), (date(2024, 2, 1), 4, 2, 60.0), (date(2024, 3, 1), 3, 1, 60.0)]


SEGMENT_SURVIVAL = "account_id varchar, signup_cohort_month date, plan varchar, region varchar, seats double"
SEGMENT_COLUMNS = "column_name varchar, source_header varchar, kind varchar, n_levels bigint"


def _cell_inputs(con) -> None:
    given(con, "account_survival", SEGMENT_SURVIVAL, [
        ("A1", date(2024, 1, 1), "Pro", None, 5.0),
        ("A2", date(2024, 1, 1), "Pro", None, 50.0),  # seats is numeric: not a sidebar filter, not in the cells
        ("A3", date(2024, 2, 1), "Pro", None, 5.0),  # another signup cohort
        ("A4", date(2024, 1, 1), "Pro", "EMEA", 5.0),
        ("A5", date(2024, 1, 1), None, "EMEA", 5.0),
    ])
    given(con, "segment_columns", SEGMENT_COLUMNS, [("plan", "plan", "categorical", 1),
                                                    ("region", "region", "categorical", 1),
                                                    ("seats", "seats", "numeric", 2)])


def test_account_cells_share_a_cell_when_every_sidebar_column_agrees(con):
    _cell_inputs(con)
    build_run.create_table(con, read_plan().step("account_cells"), {}, Filling(con))
    cells = dict(rows(con, "account_cells"))
    assert cells["A1"] == cells["A2"]  # the same plan, no region and the same cohort: one cell
    assert len({cells["A1"], cells["A3"], cells["A4"], cells["A5"]}) == 4


def test_segment_cells_name_the_values_that_make_each_cell(con):
    _cell_inputs(con)
    build_run.create_table(con, read_plan().step("account_cells"), {}, Filling(con))
    build_run.create_table(con, read_plan().step("segment_cells"), {}, Filling(con))
    assert rows(con, "segment_cells", "plan, region, signup_cohort_month", order_by="cell_id") == [
        ("Pro", "EMEA", date(2024, 1, 1)),
        ("Pro", None, date(2024, 1, 1)),
        ("Pro", None, date(2024, 2, 1)),
        (None, "EMEA", date(2024, 1, 1)),
    ]
    assert [r[0] for r in con.execute("describe segment_cells").fetchall()] == [
        "cell_id", "plan", "region", "signup_cohort_month"]


def _cohort_inputs(con) -> None:
    given(con, "account_survival", ACCOUNT_SURVIVAL, [
        ("A1", date(2024, 1, 1), 0, None),
        ("A2", date(2024, 1, 1), 1, date(2024, 3, 1)),  # a churn on the 1st ends the month before
        ("A3", date(2024, 1, 1), 1, date(2024, 1, 20)),  # not in the analysis
        ("A4", date(2024, 2, 1), 0, None),
    ])
    given(con, "analysis_accounts", ANALYSIS_ACCOUNTS, [("A1",), ("A2",), ("A4",)])
    given(con, "calendar_months", CALENDAR_MONTHS, CALENDAR_2024_Q1)
    mrr = {"A1": [100, 100, 150], "A2": [100, 100], "A4": [None, 40, 40]}
    given(con, "account_month_mrr", ACCOUNT_MONTH_MRR, [
        (account, date(2024, month, 1), float(value), "recorded")
        for account, values in mrr.items() for month, value in enumerate(values, start=1) if value is not None
    ])


def _run_cohort_retention(con, as_of: date, cells: dict[str, int]) -> None:
    """cohort_retention_cells with the accounts in `cells`, then cohort_retention over all of those cells."""
    given(con, "account_cells", ACCOUNT_CELLS, list(cells.items()))
    given(con, "analysis_cells", ANALYSIS_CELLS, [(cell,) for cell in sorted(set(cells.values()))])
    run_model(con, "cohort_retention_cells", as_of=as_of)
    run_model(con, "cohort_retention", as_of=as_of)


def test_cohort_retention_churn_on_the_first_ends_the_month_before(con):
    _cohort_inputs(con)
    _run_cohort_retention(con, date(2024, 3, 31), {"A1": 1, "A2": 2, "A3": 1, "A4": 1})
    # cohort, months since signup, accounts, retained, retained share, starting MRR, retained MRR, MRR share
    assert rows(con, "cohort_retention") == [
        (date(2024, 1, 1), 0, 2, 2, 1.0, 200.0, 200.0, 1.0),
        (date(2024, 1, 1), 1, 2, 1, 0.5, 200.0, 100.0, 0.5),
        (date(2024, 1, 1), 2, 2, 1, 0.5, 200.0, 150.0, 0.75),
        (date(2024, 2, 1), 0, 1, 1, 1.0, 40.0, 40.0, 1.0),
        (date(2024, 2, 1), 1, 1, 1, 1.0, 40.0, 40.0, 1.0),
    ]


def test_cohort_retention_leaves_out_months_not_yet_over(con):
    _cohort_inputs(con)
    _run_cohort_retention(con, date(2024, 3, 30), {"A1": 1, "A2": 1, "A3": 1, "A4": 1})
    assert rows(con, "cohort_retention", "cohort_month, months_since_signup") == [
        (date(2024, 1, 1), 0),
        (date(2024, 1, 1), 1),
        (date(2024, 2, 1), 0),
    ]


def test_cohort_retention_without_any_mrr_is_unknown_unless_an_account_left(con):
    """B1 stays and has no MRR: its cohort's MRR is unknown (NULL), not 0. B2 and B3 have no MRR either, and B3
    leaves on 1 March, which ends February: a leaver counts 0 in a month's retained MRR, so February's cohort holds
    0 in both its months."""
    given(con, "account_survival", ACCOUNT_SURVIVAL, [
        ("B1", date(2024, 1, 1), 0, None),
        ("B2", date(2024, 2, 1), 0, None),
        ("B3", date(2024, 2, 1), 1, date(2024, 3, 1)),
    ])
    given(con, "analysis_accounts", ANALYSIS_ACCOUNTS, [("B1",), ("B2",), ("B3",)])
    given(con, "calendar_months", CALENDAR_MONTHS, CALENDAR_2024_Q1)
    given(con, "account_month_mrr", ACCOUNT_MONTH_MRR, [])
    # B2 and B3 in cells of their own: the rule applies to the cohort's sums, whatever cells they came from
    _run_cohort_retention(con, date(2024, 3, 31), {"B1": 1, "B2": 2, "B3": 3})
    assert rows(con, "cohort_retention", "cohort_month, months_since_signup, retained_accounts, "
                "cohort_starting_mrr, retained_mrr, revenue_retained_share") == [
        (date(2024, 1, 1), 0, 1, None, None, None),
        (date(2024, 1, 1), 1, 1, None, None, None),
        (date(2024, 1, 1), 2, 1, None, None, None),
        (date(2024, 2, 1), 0, 1, None, 0.0, None),
        (date(2024, 2, 1), 1, 1, None, 0.0, None),
    ]


def test_cohort_retention_cells_keep_each_cells_sums_apart(con):
    _cohort_inputs(con)
    given(con, "account_cells", ACCOUNT_CELLS, [("A1", 1), ("A2", 2), ("A3", 1), ("A4", 1)])
    run_model(con, "cohort_retention_cells", as_of=date(2024, 3, 31))
    # cell, cohort, months since signup, members, retained, cohort's starting MRR, retained members' MRR
    assert rows(con, "cohort_retention_cells", order_by="cell_id, cohort_month, months_since_signup") == [
        (1, date(2024, 1, 1), 0, 1, 1, 100.0, 100.0),
        (1, date(2024, 1, 1), 1, 1, 1, 100.0, 100.0),
        (1, date(2024, 1, 1), 2, 1, 1, 100.0, 150.0),
        (1, date(2024, 2, 1), 0, 1, 1, 40.0, 40.0),
        (1, date(2024, 2, 1), 1, 1, 1, 40.0, 40.0),
        (2, date(2024, 1, 1), 0, 1, 1, 100.0, 100.0),
        (2, date(2024, 1, 1), 1, 1, 0, 100.0, None),  # A2 left on 1 March, which ends February
        (2, date(2024, 1, 1), 2, 1, 0, 100.0, None),
    ]


HEADLINE_SURVIVAL = "account_id varchar, signup_date date, churned integer, churn_date date"


def test_headline_kpis_cells_sum_each_cells_accounts_at_both_dates(con):
    """At 30 June 2024 and a year earlier: C1 active throughout (MRR 100 then 120), C2 signed up in 2024, C3 left in
    March 2024 (active a year before with MRR 50)."""
    given(con, "account_survival", HEADLINE_SURVIVAL, [
        ("C1", date(2023, 1, 1), 0, None),
        ("C2", date(2024, 2, 1), 0, None),
        ("C3", date(2022, 5, 1), 1, date(2024, 3, 10)),
    ])
    given(con, "analysis_accounts", ANALYSIS_ACCOUNTS, [("C1",), ("C2",), ("C3",)])
    given(con, "account_cells", ACCOUNT_CELLS, [("C1", 1), ("C2", 2), ("C3", 1)])
    given(con, "account_month_mrr", ACCOUNT_MONTH_MRR, [
        ("C1", date(2023, 6, 1), 100.0, "recorded"), ("C1", date(2024, 6, 1), 120.0, "recorded"),
        ("C2", date(2024, 6, 1), 30.0, "recorded"), ("C3", date(2023, 6, 1), 50.0, "recorded"),
        ("C1", date(2022, 6, 1), 90.0, "recorded"), ("C3", date(2022, 6, 1), 40.0, "recorded"),
    ])
    run_model(con, "headline_kpis_cells", as_of=date(2024, 6, 30))
    # cell, period, active, MRR, active a year before, churned since, start MRR, retained MRR (capped), end MRR
    assert rows(con, "headline_kpis_cells", order_by="cell_id, period") == [
        (1, "as_of", 1, 120.0, 2, 1, 150.0, 100.0, 120.0),
        (1, "year_earlier", 2, 150.0, 1, 0, 40.0, 40.0, 50.0),  # C3 from 40 to 50, capped at 40
        (2, "as_of", 1, 30.0, 0, 0, None, None, None),
    ]


def test_panel_measure_coverage_counts_rows_accounts_and_range(con):
    given(con, "account_months", ACCOUNT_MONTHS, [
        {"account_id": "A1", "month_start": date(2024, 1, 1), "tickets_90d": 2, "first_response_hours_median": 4.0,
         "mrr": 100.0},
        {"account_id": "A1", "month_start": date(2024, 2, 1), "tickets_90d": 0, "mrr": 100.0},
        {"account_id": "A2", "month_start": date(2024, 1, 1), "tickets_90d": 1, "first_response_hours_median": 2.0},
    ])
    run_model(con, "panel_measure_coverage")
    never = (3, 0, 0.0, 0, None, None, None)  # a measure no row has: the emptiness this table exists to show
    assert rows(con, "panel_measure_coverage", order_by="measure") == [
        ("agent_update_rate", *never),
        ("bad_interactions_90d", *never),
        ("credited_bad_interactions_90d", *never),
        ("credits_90d", *never),
        ("csat_mean", *never),
        ("escalation_rate", *never),
        ("first_response_hours_median", 3, 2, pytest.approx(2 / 3), 2, 2.0, 3.0, 4.0),
        ("handoff_rate", *never),
        ("high_priority_share_90d", *never),
        ("live_channel_share_90d", *never),
        ("mrr", 3, 2, pytest.approx(2 / 3), 1, 100.0, 100.0, 100.0),
        ("reopen_rate", *never),
        ("repeat_contact_rate", *never),
        ("resolution_hours_median", *never),
        ("sla_breach_rate", *never),
        ("tickets_90d", 3, 3, 1.0, 2, 0.0, 1.0, 2.0),
    ]


KM_SURVIVAL = "account_id varchar, duration_days integer, churned integer, mrr double"
KM_SEGMENTS = "account_id varchar, plan varchar, seats double"
SEGMENT_COLUMNS = "column_name varchar, source_header varchar, kind varchar, n_levels bigint"


def test_km_segment_counts_per_level_and_over_every_account_in_day_order(con):
    given(con, "account_survival", KM_SURVIVAL, [
        ("A1", 10, 1, 100.0),
        ("A2", 10, 0, 50.0),  # censored on the day A1 churned: a tie of an event and a censoring
        ("A3", 10, 1, None),  # no MRR: counted, left out of the MRR sums
        ("A4", 0, 0, 20.0),  # signed up on the as-of day: censored at time 0
        ("A5", 30, 1, 10.0),
    ])
    given(con, "stg_account_segments", KM_SEGMENTS, [
        ("A1", "Pro", 1.0), ("A2", "Pro", 2.0), ("A3", "Basic", 3.0), ("A4", None, 4.0), ("A5", "Pro", 5.0),
    ])
    given(con, "segment_columns", SEGMENT_COLUMNS, [("plan", "plan", "categorical", 2), ("seats", "seats", "numeric", 5)])
    run_model(con, "km_segment_counts")
    # (segment_column, group_value, then per day in day order: time_days, n_removed, n_events, mrr_removed,
    # mrr_events; then n_mrr_missing and the as-of date); the numeric segment is not stored (survival groups it by
    # quartile)
    as_of = PARAMS["as_of"]
    assert rows(con, "km_segment_counts") == [
        (None, "all", [0, 10, 30], [1, 3, 1], [0, 2, 1], [20.0, 150.0, 10.0], [0.0, 100.0, 10.0], 1, as_of),
        ("plan", "Basic", [10], [1], [1], [0.0], [0.0], 1, as_of),
        ("plan", "Pro", [10, 30], [2, 1], [1, 1], [150.0, 10.0], [100.0, 10.0], 0, as_of),
        ("plan", None, [0], [1], [0], [20.0], [0.0], 0, as_of),
    ]


def test_km_segment_counts_without_segments_holds_every_account_only(con):
    given(con, "account_survival", KM_SURVIVAL, [("A1", 5, 1, 10.0), ("A2", 7, 0, 20.0)])
    given(con, "stg_account_segments", "account_id varchar", [("A1",), ("A2",)])
    given(con, "segment_columns", SEGMENT_COLUMNS, [])
    run_model(con, "km_segment_counts")
    assert rows(con, "km_segment_counts") == [
        (None, "all", [5, 7], [1, 1], [1, 0], [10.0, 20.0], [10.0, 0.0], 0, PARAMS["as_of"])]


SLA_PANEL = "account_id varchar, month_start date, churned integer"
SLA_METRICS = ("account_id varchar, created_at timestamp, first_response_at timestamp, first_response_hours double, "
               "sla_target_hours double, reopened boolean, csat double, handoffs integer")


def test_sla_window_tickets_holds_the_answered_tickets_of_each_active_accounts_latest_window(con):
    """A: latest row 2024-06 (window from 2024-03-03): T1 in it; T0 before the window; T2 answered only after the
    row started; T3 without a target; T4 rated 2 (bad for another reason). B churned in its latest row: none."""
    given(con, "account_months", SLA_PANEL, [
        ("A", date(2024, 5, 1), 0), ("A", date(2024, 6, 1), 0), ("B", date(2024, 5, 1), 0), ("B", date(2024, 6, 1), 1),
    ])
    given(con, "interaction_metrics", SLA_METRICS, [
        ("A", at("2024-05-20 08:00"), at("2024-05-20 14:00"), 6.0, 4.0, False, 4.0, 0),  # T1
        ("A", at("2024-03-02 08:00"), at("2024-03-02 09:00"), 1.0, 4.0, False, None, 0),  # T0: before the window
        ("A", at("2024-05-31 20:00"), at("2024-06-01 09:00"), 13.0, 4.0, False, None, 0),  # T2: answered in June
        ("A", at("2024-05-10 08:00"), at("2024-05-10 09:00"), 1.0, None, True, None, 0),  # T3: no target
        ("A", at("2024-04-10 08:00"), at("2024-04-10 09:00"), 1.0, 8.0, False, 2.0, 0),  # T4: rated 2
        ("B", at("2024-05-20 08:00"), at("2024-05-20 09:00"), 1.0, 4.0, False, None, 0),
    ])
    run_model(con, "current_panel_rows")  # the latest active rows sla_window_tickets reads
    run_model(con, "sla_window_tickets")
    assert rows(con, "sla_window_tickets", order_by="first_response_hours desc") == [
        ("A", 6.0, 4.0, False), ("A", 1.0, 8.0, True)]


def test_current_panel_rows_are_each_active_accounts_latest_month(con):
    """a churned at its last row; b is active (three months, given out of order); c has one month: b's and c's
    latest rows, every column as stored."""
    con.execute("""
        create table account_months as select * from (values
            ('a', date '2026-01-01', 0, 31, 0, 10.0),
            ('a', date '2026-02-01', 31, 40, 1, 10.0),
            ('b', date '2026-03-01', 59, 90, 0, 25.0),
            ('b', date '2026-01-01', 0, 31, 0, 20.0),
            ('b', date '2026-02-01', 31, 59, 0, 20.0),
            ('c', date '2026-03-01', 0, 12, 0, 5.0)
        ) as t(account_id, month_start, start_day, stop_day, churned, mrr)
    """)
    run_model(con, "current_panel_rows")
    assert rows(con, "current_panel_rows", order_by="account_id") == [
        ("b", date(2026, 3, 1), 59, 90, 0, 25.0), ("c", date(2026, 3, 1), 0, 12, 0, 5.0)]


# --- every model file has a test ------------------------------------------------------------------

@pytest.mark.parametrize("table", sorted(LAYER_DIR_OF))
def test_every_model_file_has_a_unit_test(table):
    """A new file in sql/20_metrics, 30_panel or 40_marts needs a test here named test_<table>_<behaviour>
    that runs it."""
    tests = [function for name, function in globals().items()
             if name.startswith(f"test_{table}_") and callable(function)]
    assert tests, f"no test_{table}_<behaviour> in {Path(__file__).name} for {LAYER_DIR_OF[table]}/{table}.sql"
    assert any(f'"{table}"' in inspect.getsource(function) for function in tests), (
        f"no test_{table}_* runs {table}.sql (run_model(con, \"{table}\"))"
    )


def test_every_model_folder_is_listed():
    # an empty listing (a moved folder) would leave the check above with nothing to check
    assert {folder for folder in LAYER_DIR_OF.values()} == set(MODEL_DIRS)
