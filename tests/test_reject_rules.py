"""Every reject rule of sql/10_staging/*_rejects.sql on literal input rows, with the exact rows it adds.

Each test writes a few rows of one input as the loader hands them over (src_<source>: the row number and
the file's text), runs the staging files in build order in an in-memory DuckDB, and compares that source's
rejects with literal rows: (row, column, reason, raw value, action). Every rule appears in some test, so a
changed reason or a rule that stops firing shows here before it reaches a user.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from pipelines.build_fill import Filling, fill_table
from pipelines.build_run import create_table, parameters
from pipelines.contract import ACCOUNTS, INTERACTIONS, MRR_HISTORY
from pipelines.plan import read_plan
from pipelines.settings import BuildSettings

AS_OF = date(2024, 6, 30)
PARAMS = {"as_of": AS_OF, **parameters(BuildSettings())}
# the staging steps the rejects need, in build order
STAGING_UP_TO_REJECTS = read_plan().upstream(["account_rejects", "interaction_rejects", "mrr_history_rejects"])

ACCOUNTS_OK = [(1, "A1", "2024-01-10", "2024-04-15", "100")]
INTERACTION_OK = {
    "account_id": "A1", "created_at": "2024-02-01 09:00", "first_response_at": "2024-02-01 10:00",
    "resolved_at": "2024-02-02 09:00", "channel": "email", "severity": "normal", "csat": "4", "reopens": "0",
    "handoffs": "0", "escalated": "no", "agent_updates": "1", "credit_amount": "0",
}


def interaction(row: int, **changes) -> tuple:
    """Row `row` of an interactions file: a clean interaction I<row> of A1 with `changes` applied."""
    values = {"interaction_id": f"I{row}", **INTERACTION_OK, **changes}
    return (row, *(values[name] for name in INTERACTIONS.column_names))


def rejects(source: str, accounts: list[tuple], interactions: list[tuple] = (), mrr_history: list[tuple] = ()) -> list:
    """Load the rows as src_<source> tables, run staging up to the rejects, and return `source`'s rejects."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")  # as the build sets it
    for contract, rows in ((ACCOUNTS, accounts), (INTERACTIONS, interactions), (MRR_HISTORY, mrr_history)):
        columns = ", ".join(["_row bigint"] + [f"{name} varchar" for name in contract.column_names])
        con.execute(f"create table src_{contract.name} ({columns})")
        if rows:
            width = len(contract.column_names) + 1  # an optional column a row leaves out is empty
            padded = [tuple(r) + (None,) * (width - len(r)) for r in rows]
            con.executemany(f"insert into src_{contract.name} values ({', '.join('?' * width)})", padded)
    for step in STAGING_UP_TO_REJECTS:
        if step.made_by == "settings":  # e.g. the built-in churn reasons the staged accounts map
            fill_table(Filling(con), step.made_by, step.layer_dir, step.name)
        else:
            create_table(con, step, PARAMS)
    table = {"accounts": "account_rejects", "interactions": "interaction_rejects", "mrr_history": "mrr_history_rejects"}
    found = con.execute(
        f"select row_number, column_name, reason, raw_value, action from {table[source]} where source = ? "
        "order by row_number, column_name, reason",
        [source],
    ).fetchall()
    con.close()
    return found


# --- accounts ------------------------------------------------------------------------------------

def test_account_rejects_missing_or_unreadable_values_drop_the_row():
    assert rejects("accounts", [
        (1, None, "2024-01-01", None, "100"),
        (2, "A2", None, None, "100"),
        (3, "A3", "01/02/2024", None, "100"),
        (4, "A4", "2024-01-01", "soon", "100"),
        (5, "A5", "2024-01-01", None, "100"),
    ]) == [
        (1, "account_id", "empty: every account needs an id", None, "row_dropped"),
        (2, "signup_date", "empty: every account needs a signup date", None, "row_dropped"),
        (3, "signup_date", "not a valid ISO 8601 date (YYYY-MM-DD)", "01/02/2024", "row_dropped"),
        (4, "churn_date", "not a valid ISO 8601 date (YYYY-MM-DD); leave it empty for a current customer", "soon",
         "row_dropped"),
    ]


def test_a_churn_reason_on_an_account_with_no_churn_date_is_emptied_and_said():
    found = rejects("accounts", [
        (2, "A1", "2024-01-01", None, "100", "payment_failed"),
        (3, "A2", "2024-01-01", "2024-05-01", "100", "payment_failed"),
        (4, "A3", "2024-01-01", None, "100", "   "),
    ])
    assert found == [(2, "churn_reason", "a churn reason on an account with no churn date: emptied",
                      "payment_failed", "value_nulled")]


def test_account_rejects_impossible_dates_drop_the_row():
    assert rejects("accounts", [
        (1, "A1", "1989-12-31", None, "100"),
        # the reason quotes the signup date as written, offset and all
        (2, "A2", "2024-03-01T00:00:00+02:00", "2024-02-01", "100"),
        (3, "A3", "2024-07-01", None, "100"),
    ]) == [
        (1, "signup_date", "implausibly early date (before 1990-01-01)", "1989-12-31", "row_dropped"),
        (2, "churn_date", "churn_date is before signup_date (2024-03-01T00:00:00+02:00)", "2024-02-01", "row_dropped"),
        (3, "signup_date", "after the as-of date: the account did not exist yet", "2024-07-01", "row_dropped"),
    ]


def test_account_rejects_a_repeated_id_keeps_the_first_usable_row():
    assert rejects("accounts", [
        (1, "A1", "someday", None, "100"),
        (2, "A1", "2024-01-01", None, "100"),
        (3, "A1", "2024-02-01", None, "lots"),  # a duplicate's unusable MRR is reported too
        (4, "A1", "2024-03-01", None, "100"),
    ]) == [
        (1, "signup_date", "not a valid ISO 8601 date (YYYY-MM-DD)", "someday", "row_dropped"),
        (3, "account_id", "duplicate account_id: row 2 has the same id", "A1", "row_dropped"),
        (3, "mrr", "not a number; revenue figures leave this account out", "lots", "value_nulled"),
        (4, "account_id", "duplicate account_id: row 2 has the same id", "A1", "row_dropped"),
    ]


def test_account_rejects_unusable_mrr_is_emptied_and_the_account_kept():
    assert rejects("accounts", [
        (1, "A1", "2024-01-01", None, "lots"),
        (2, "A2", "2024-01-01", None, "-5"),
        (3, "A3", "2024-01-01", None, None),
        (4, None, "2024-01-01", None, "lots"),  # a dropped row's values are not reported one by one
    ]) == [
        (1, "mrr", "not a number; revenue figures leave this account out", "lots", "value_nulled"),
        (2, "mrr", "negative MRR; revenue figures leave this account out", "-5", "value_nulled"),
        (3, "mrr", "empty; revenue figures leave this account out", None, "value_nulled"),
        (4, "account_id", "empty: every account needs an id", None, "row_dropped"),
    ]


# --- interactions --------------------------------------------------------------------------------

# A9's row is rejected (its signup date is not a date), so its interactions are too
ACCOUNTS_WITH_A_REJECTED_ONE = ACCOUNTS_OK + [(2, "A9", "never", None, "100")]


def test_interaction_rejects_rows_that_cannot_be_placed_are_dropped():
    assert rejects("interactions", ACCOUNTS_WITH_A_REJECTED_ONE, [
        interaction(1, interaction_id=None),
        interaction(2, account_id=None),
        interaction(3, account_id="A7"),
        interaction(4, account_id="A9"),
        interaction(5, created_at=None),
        interaction(6, created_at="yesterday"),
        interaction(7, created_at="2024-01-09 23:00"),
        interaction(8, created_at="2024-07-01 00:00"),
        # the as-of day is included to its end
        interaction(9, created_at="2024-06-30 23:59", first_response_at=None, resolved_at=None),
    ]) == [
        (1, "interaction_id", "empty: every interaction needs an id", None, "row_dropped"),
        (2, "account_id", "empty: every interaction needs the account it belongs to", None, "row_dropped"),
        (3, "account_id", "not found in the accounts file", "A7", "row_dropped"),
        (4, "account_id", "belongs to an accounts row that was rejected (see the accounts rejects)", "A9",
         "row_dropped"),
        (5, "created_at", "empty: every interaction needs its creation time", None, "row_dropped"),
        (6, "created_at", "not a valid ISO 8601 timestamp", "yesterday", "row_dropped"),
        (7, "created_at", "before the account's signup_date (2024-01-10)", "2024-01-09 23:00", "row_dropped"),
        (8, "created_at", "after the as-of date: excluded from this analysis", "2024-07-01 00:00", "row_dropped"),
    ]


def test_interaction_rejects_a_repeated_id_keeps_the_first_usable_row():
    assert rejects("interactions", ACCOUNTS_OK, [
        interaction(1, interaction_id="I1", created_at="bad"),
        interaction(2, interaction_id="I1"),
        interaction(3, interaction_id="I1", csat="9"),  # a duplicate's values are not checked
        interaction(4, interaction_id="I1"),
    ]) == [
        (1, "created_at", "not a valid ISO 8601 timestamp", "bad", "row_dropped"),
        (3, "interaction_id", "duplicate interaction_id: row 2 has the same id", "I1", "row_dropped"),
        (4, "interaction_id", "duplicate interaction_id: row 2 has the same id", "I1", "row_dropped"),
    ]


def test_interaction_rejects_unusable_values_are_emptied_and_the_interaction_kept():
    assert rejects("interactions", ACCOUNTS_OK, [
        interaction(1, first_response_at="soon"),
        interaction(2, first_response_at="2024-02-01 08:00"),
        interaction(3, first_response_at="2024-07-01 00:00"),
        interaction(4, resolved_at="soon"),
        interaction(5, resolved_at="2024-02-01 08:00"),
        interaction(6, resolved_at="2024-07-01 00:00"),
        interaction(7, severity="meh"),
        interaction(8, csat="6"),
        interaction(9, csat="good"),
        interaction(10, reopens="-1"),
        interaction(11, handoffs="1.5"),
        interaction(12, agent_updates="two"),
        interaction(13, escalated="maybe"),
        interaction(14, credit_amount="-3"),
        interaction(15, csat="0", reopens="x"),
        interaction(16, severity="HIGH", escalated="Yes"),  # spelled differently, but valid
    ]) == [
        (1, "first_response_at", "not a valid ISO 8601 timestamp", "soon", "value_nulled"),
        (2, "first_response_at", "before created_at", "2024-02-01 08:00", "value_nulled"),
        (3, "first_response_at", "after the as-of date: not yet known then", "2024-07-01 00:00", "value_nulled"),
        (4, "resolved_at", "not a valid ISO 8601 timestamp", "soon", "value_nulled"),
        (5, "resolved_at", "before created_at", "2024-02-01 08:00", "value_nulled"),
        (6, "resolved_at", "after the as-of date: not yet known then", "2024-07-01 00:00", "value_nulled"),
        (7, "severity", "not one of low, normal, high, urgent", "meh", "value_nulled"),
        (8, "csat", "not a score from 1 to 5", "6", "value_nulled"),
        (9, "csat", "not a score from 1 to 5", "good", "value_nulled"),
        (10, "reopens", "not a whole number >= 0", "-1", "value_nulled"),
        (11, "handoffs", "not a whole number >= 0", "1.5", "value_nulled"),
        (12, "agent_updates", "not a whole number >= 0", "two", "value_nulled"),
        (13, "escalated", "not true/false (or 1/0, yes/no)", "maybe", "value_nulled"),
        (14, "credit_amount", "not an amount >= 0", "-3", "value_nulled"),
        (15, "csat", "not a score from 1 to 5", "0", "value_nulled"),
        (15, "reopens", "not a whole number >= 0", "x", "value_nulled"),
    ]


# --- mrr_history ---------------------------------------------------------------------------------

def test_mrr_history_rejects_rows_that_cannot_be_placed_are_dropped():
    accounts = ACCOUNTS_OK + [(2, "A2", "2024-01-01", None, "50")]
    assert rejects("mrr_history", accounts, mrr_history=[
        (1, None, "2024-02", "100"),
        (2, "A7", "2024-02", "100"),
        (3, "A1", "Feb", "100"),
        (4, "A1", "2024-02", "lots"),
        (5, "A1", "2024-03", "-1"),
        (6, "A2", "2024-07", "100"),
        (7, "A1", "2023-12", "100"),
        (8, "A1", "2024-05", "100"),
        (9, "A1", "2024-01", "100"),  # the signup month counts from its first day
        (10, "A1", "2024-04-20", "100"),  # names April, the churn month
    ]) == [
        (1, "account_id", "empty", None, "row_dropped"),
        (2, "account_id", "not found among the loaded accounts", "A7", "row_dropped"),
        (3, "month", "not a month (YYYY-MM or YYYY-MM-DD)", "Feb", "row_dropped"),
        (4, "mrr", "not a number", "lots", "row_dropped"),
        (5, "mrr", "negative MRR", "-1", "row_dropped"),
        (6, "month", "after the as-of date: excluded from this analysis", "2024-07", "row_dropped"),
        (7, "month", "before the account's signup month (2024-01-10)", "2023-12", "row_dropped"),
        (8, "month", "after the account's churn_date (2024-04-15)", "2024-05", "row_dropped"),
    ]


def test_mrr_history_rejects_a_repeated_month_keeps_the_first_usable_row():
    assert rejects("mrr_history", ACCOUNTS_OK, mrr_history=[
        (1, "A1", "2024-02", "100"),
        (2, "A1", "2024-02-15", "110"),  # the same month, written as a day in it
        (3, "A1", "2024-03", "x"),
        (4, "A1", "2024-03", "120"),
    ]) == [
        (2, "month", "duplicate month for this account: row 1 has it too", "2024-02-15", "row_dropped"),
        (3, "mrr", "not a number", "x", "row_dropped"),
    ]


@pytest.mark.parametrize("source", ["accounts", "interactions", "mrr_history"])
def test_rejects_are_empty_for_clean_rows(source):
    assert rejects(source, ACCOUNTS_OK, [interaction(1)], [(1, "A1", "2024-02", "100")]) == []
