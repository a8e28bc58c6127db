"""Bad and awkward input files: what the user sees (InputError text, rejected_rows, load_report, warnings).

Every file here is a few literal bytes written to tmp_path, so the expected rows can be read off the test.
Row N in rejected_rows is the Nth data row after the header. Every build that succeeds is checked for the
load_report balance (rows_read = rows_loaded + rows_dropped) before the test looks at anything else.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines.build import build_database
from pipelines.cli import main
from pipelines.errors import InputError
from pipelines.settings import BuildSettings

AS_OF = date(2024, 6, 30)

ACCOUNTS_OK = "account_id,signup_date,churn_date,mrr,plan\nA1,2024-01-01,,100,Pro\nA2,2024-01-05,,50,Basic\n"
INTERACTIONS_HEADER = (
    "interaction_id,account_id,created_at,first_response_at,resolved_at,severity,csat,reopens,handoffs,"
    "escalated,agent_updates,credit_amount\n"
)
INTERACTIONS_OK = INTERACTIONS_HEADER + "I1,A1,2024-02-01 09:00,2024-02-01 10:00,2024-02-02 09:00,normal,4,0,0,no,1,0\n"

STG_TABLES = {"accounts": "stg_accounts", "interactions": "stg_interactions", "mrr_history": "stg_mrr_history"}


def write(path: Path, content: str | bytes, encoding: str = "utf-8") -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


class Built:
    def __init__(self, result, con: duckdb.DuckDBPyConnection):
        self.result = result
        self.con = con

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def rejects(self, source: str) -> list[tuple]:
        return self.rows(
            'select row_number, "column", reason, raw_value, action from rejected_rows '
            'where source = ? order by row_number, "column"',
            [source],
        )

    def report(self, source: str) -> dict:
        relation = self.con.execute("select * from load_report where source = ?", [source])
        columns = [d[0] for d in relation.description]
        return dict(zip(columns, relation.fetchone()))


@pytest.fixture
def build(tmp_path):
    """build(accounts=text|Path, interactions=text|Path, ...) -> Built, with the load_report balance checked."""
    opened: list[duckdb.DuckDBPyConnection] = []

    def _build(accounts: str | bytes | Path = ACCOUNTS_OK, interactions: str | bytes | Path = INTERACTIONS_OK,
               as_of: date | None = AS_OF, mrr_history: Path | None = None, db_name: str = "retention.duckdb") -> Built:
        if not isinstance(accounts, Path):
            accounts = write(tmp_path / "accounts.csv", accounts)
        if not isinstance(interactions, Path):
            interactions = write(tmp_path / "interactions.csv", interactions)
        db_path = tmp_path / db_name
        result = build_database(accounts, interactions, db_path, mrr_history=mrr_history,
                                settings=BuildSettings(as_of=as_of))
        con = duckdb.connect(str(db_path), read_only=True)
        opened.append(con)
        built = Built(result, con)
        for row in built.rows("select source, rows_read, rows_loaded, rows_dropped from load_report"):
            source, read, loaded, dropped = row
            assert read == loaded + dropped, f"load_report does not balance: {row}"
            assert loaded == built.rows(f"select count(*) from {STG_TABLES[source]}")[0][0]
        return built

    yield _build
    for con in opened:
        con.close()


def build_error(tmp_path: Path, accounts: Path, interactions: Path, mrr_history: Path | None = None) -> InputError:
    db_path = tmp_path / "retention.duckdb"
    with pytest.raises(InputError) as info:
        build_database(accounts, interactions, db_path, mrr_history=mrr_history, settings=BuildSettings(as_of=AS_OF))
    # a failed build leaves nothing behind: no database, no temporary file
    assert not db_path.exists()
    assert [p.name for p in tmp_path.iterdir() if ".building-" in p.name] == []
    return info.value


# --- the file itself --------------------------------------------------------------------------------------


def test_missing_file_names_the_path(tmp_path):
    interactions = write(tmp_path / "interactions.csv", INTERACTIONS_OK)
    error = build_error(tmp_path, tmp_path / "acounts.csv", interactions)
    assert error.path == str(tmp_path / "acounts.csv")
    assert str(error) == f"{tmp_path / 'acounts.csv'}: accounts file or folder not found"


def test_zero_byte_file_is_reported_as_empty(tmp_path):
    accounts = write(tmp_path / "accounts.csv", ACCOUNTS_OK)
    interactions = write(tmp_path / "interactions.csv", b"")
    error = build_error(tmp_path, accounts, interactions)
    assert error.path == str(interactions)
    assert "interactions file is empty (0 bytes)" in str(error)
    assert "header row" in str(error)


def test_folder_without_parquet_files_names_the_folder(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    write(folder / "accounts.csv", ACCOUNTS_OK)  # a folder input is a lake table: Parquet files only
    write(folder / "_SUCCESS", "")
    interactions = write(tmp_path / "interactions.csv", INTERACTIONS_OK)
    error = build_error(tmp_path, folder, interactions)
    assert error.path == str(folder)
    assert str(error) == (f"{folder}: accounts folder holds no Parquet files (*.parquet); give a CSV or Parquet "
                          "file, or a folder of Parquet files")
    missing = build_error(tmp_path, tmp_path / "no_such_folder", interactions)
    assert str(missing) == f"{tmp_path / 'no_such_folder'}: accounts file or folder not found"
    nothing = build_error(tmp_path, tmp_path / "lake" / "*.parquet", interactions)
    assert nothing.path == str(tmp_path / "lake" / "*.parquet") and "no file matches this accounts pattern" in str(nothing)


def test_accounts_with_header_and_no_rows_is_fatal(tmp_path):
    accounts = write(tmp_path / "accounts.csv", "account_id,signup_date,churn_date,mrr\n")
    interactions = write(tmp_path / "interactions.csv", INTERACTIONS_OK)
    error = build_error(tmp_path, accounts, interactions)
    assert error.path == str(accounts)
    assert "has a header but no data rows" in str(error)
    assert "at least one account" in str(error)


def test_interactions_with_header_and_no_rows_builds_an_accounts_only_panel(build):
    built = build(interactions=INTERACTIONS_HEADER)
    assert built.report("interactions") == {
        "source": "interactions", "rows_read": 0, "rows_loaded": 0, "rows_dropped": 0, "values_nulled": 0,
        "rows_after_as_of": 0,
    }
    panel = built.rows(
        "select account_id, count(*), sum(tickets_90d), count(first_response_hours_median), count(csat_mean), "
        "count(sla_breach_rate), count(reopen_rate) from account_months group by account_id order by account_id"
    )
    assert panel == [("A1", 6, 0, 0, 0, 0, 0), ("A2", 6, 0, 0, 0, 0, 0)]


def test_missing_required_column_names_file_column_and_columns_found(tmp_path):
    accounts = write(tmp_path / "accounts.csv", "account_id,signup_date,mrr,plan\nA1,2024-01-01,100,Pro\n")
    interactions = write(tmp_path / "interactions.csv", INTERACTIONS_OK)
    error = build_error(tmp_path, accounts, interactions)
    assert (error.path, error.row, error.column) == (str(accounts), None, "churn_date")
    assert str(error) == (
        f"{accounts}, column 'churn_date': missing required column churn_date in the accounts file; "
        "columns found: ['account_id', 'signup_date', 'mrr', 'plan']."
    )


def test_missing_required_columns_in_interactions_lists_them_all(tmp_path):
    accounts = write(tmp_path / "accounts.csv", ACCOUNTS_OK)
    interactions = write(tmp_path / "interactions.csv", "id,account,created_at\nI1,A1,2024-02-01\n")
    error = build_error(tmp_path, accounts, interactions)
    assert error.column == "interaction_id"
    assert "missing required columns interaction_id, account_id in the interactions file" in str(error)
    assert "columns found: ['id', 'account', 'created_at']" in str(error)


def test_contract_column_given_twice_is_an_error_not_a_segment(tmp_path):
    accounts = write(tmp_path / "accounts.csv", "account_id,signup_date,churn_date,mrr,Account_ID\nA1,2024-01-01,,1,B\n")
    interactions = write(tmp_path / "interactions.csv", INTERACTIONS_OK)
    error = build_error(tmp_path, accounts, interactions)
    assert error.column == "account_id"
    assert "2 columns map to 'account_id': ['account_id', 'Account_ID']; keep one" in str(error)


def test_binary_file_is_not_a_table(tmp_path):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"
    accounts = write(tmp_path / "accounts.csv", png)
    interactions = write(tmp_path / "interactions.csv", INTERACTIONS_OK)
    error = build_error(tmp_path, accounts, interactions)
    assert error.path == str(accounts)
    assert "is not a text table: it contains binary (NUL) bytes" in str(error)


def test_prose_text_file_is_not_a_table(tmp_path):
    accounts = write(tmp_path / "accounts.csv", "Hello team,\nhere are the accounts you asked for. Cheers\n")
    interactions = write(tmp_path / "interactions.csv", INTERACTIONS_OK)
    error = build_error(tmp_path, accounts, interactions)
    assert error.path == str(accounts)
    assert "missing required columns account_id, signup_date, churn_date, mrr in the accounts file" in str(error)
    assert "columns found: ['Hello team', '']" in str(error)


def test_single_line_of_prose_hints_that_it_may_not_be_a_table(tmp_path):
    accounts = write(tmp_path / "accounts.csv", "Accounts export failed. Please try again later.\n")
    interactions = write(tmp_path / "interactions.csv", INTERACTIONS_OK)
    error = build_error(tmp_path, accounts, interactions)
    assert "The file has a single column: it may not be a table" in str(error)


@pytest.mark.parametrize(
    "document",
    [
        '{"accounts": [{"account_id": "A1", "signup_date": "2024-01-01", "churn_date": null, "mrr": 1}]}',
        '[\n  {"account_id": "A1", "signup_date": "2024-01-01", "churn_date": null, "mrr": 1}\n]\n',
    ],
)
def test_json_document_is_not_a_table(tmp_path, document):
    accounts = write(tmp_path / "accounts.json", document)
    interactions = write(tmp_path / "interactions.csv", INTERACTIONS_OK)
    error = build_error(tmp_path, accounts, interactions)
    assert error.path == str(accounts)
    assert "looks like a JSON document, not a table" in str(error)
    assert "CSV" in str(error) and "Parquet" in str(error)


@pytest.mark.parametrize(
    "bad_line, found",
    [("A3,2024-01-01,,1,Pro,extra", "Found: 6"), ("A3,2024-01-01", "Found: 2")],
)
def test_ragged_row_names_file_and_line(tmp_path, bad_line, found):
    # the ragged row must not be taken for the header (DuckDB's sniffer would skip the lines before it)
    accounts = write(tmp_path / "accounts.csv", ACCOUNTS_OK + bad_line + "\nA4,2024-01-01,,1,Pro\n")
    interactions = write(tmp_path / "interactions.csv", INTERACTIONS_OK)
    error = build_error(tmp_path, accounts, interactions)
    assert error.path == str(accounts)
    assert "is not a well-formed CSV table at line 4" in str(error)
    assert f"Expected Number of Columns: 5 {found}" in str(error)
    assert "quote fields that contain the delimiter" in str(error)


# --- rows and values ----------------------------------------------------------------------------------------


def test_duplicate_account_id_keeps_the_first_row(build):
    accounts = ACCOUNTS_OK + "A1,2023-06-01,,999,Enterprise\n"
    built = build(accounts=accounts)
    assert built.rejects("accounts") == [
        (3, "account_id", "duplicate account_id: row 1 has the same id", "A1", "row_dropped"),
    ]
    assert built.rows("select account_id, signup_date, mrr from stg_accounts where account_id = 'A1'") == [
        ("A1", date(2024, 1, 1), 100.0)
    ]
    assert built.rows("select plan from stg_account_segments where account_id = 'A1'") == [("Pro",)]
    assert built.report("accounts")["rows_dropped"] == 1


def test_duplicate_interaction_id_keeps_the_first_row(build):
    interactions = INTERACTIONS_OK + "I2,A2,2024-03-01,,,,,,,,,\nI1,A2,2024-03-02,,,,,,,,,\n"
    built = build(interactions=interactions)
    assert built.rejects("interactions") == [
        (3, "interaction_id", "duplicate interaction_id: row 1 has the same id", "I1", "row_dropped"),
    ]
    assert built.rows("select interaction_id, account_id from stg_interactions order by interaction_id") == [
        ("I1", "A1"), ("I2", "A2"),
    ]


def test_unparseable_impossible_and_inconsistent_account_dates(build):
    accounts = (
        "account_id,signup_date,churn_date,mrr\n"
        "A1,2024-01-01,,100\n"
        "A2,2024-02-30,,100\n"
        "A3,yesterday,,100\n"
        "A4,2024-03-01,2024-02-01,100\n"
        "A5,2024-01-01,2024-13-01,100\n"
        "A6,,,100\n"
    )
    built = build(accounts=accounts)
    assert built.rejects("accounts") == [
        (2, "signup_date", "not a valid ISO 8601 date (YYYY-MM-DD)", "2024-02-30", "row_dropped"),
        (3, "signup_date", "not a valid ISO 8601 date (YYYY-MM-DD)", "yesterday", "row_dropped"),
        (4, "churn_date", "churn_date is before signup_date (2024-03-01)", "2024-02-01", "row_dropped"),
        (5, "churn_date", "not a valid ISO 8601 date (YYYY-MM-DD); leave it empty for a current customer",
         "2024-13-01", "row_dropped"),
        (6, "signup_date", "empty: every account needs a signup date", None, "row_dropped"),
    ]
    assert built.rows("select account_id from stg_accounts") == [("A1",)]
    assert built.report("accounts") == {
        "source": "accounts", "rows_read": 6, "rows_loaded": 1, "rows_dropped": 5, "values_nulled": 0,
        "rows_after_as_of": 0,
    }


def test_unparseable_and_impossible_interaction_times(build):
    interactions = (
        INTERACTIONS_HEADER
        + "I1,A1,2024-02-30 10:00,,,,,,,,,\n"
        + "I2,A1,yesterday,,,,,,,,,\n"
        + "I3,A1,2024-02-01 10:00,2024-02-01 09:00,2024-02-01 08:00,,,,,,,\n"
        + "I4,A1,2024-02-01 10:00,soon,2024-02-31,,,,,,,\n"
    )
    built = build(interactions=interactions)
    assert built.rejects("interactions") == [
        (1, "created_at", "not a valid ISO 8601 timestamp", "2024-02-30 10:00", "row_dropped"),
        (2, "created_at", "not a valid ISO 8601 timestamp", "yesterday", "row_dropped"),
        (3, "first_response_at", "before created_at", "2024-02-01 09:00", "value_nulled"),
        (3, "resolved_at", "before created_at", "2024-02-01 08:00", "value_nulled"),
        (4, "first_response_at", "not a valid ISO 8601 timestamp", "soon", "value_nulled"),
        (4, "resolved_at", "not a valid ISO 8601 timestamp", "2024-02-31", "value_nulled"),
    ]
    # the interactions whose times were emptied still count
    assert built.rows(
        "select interaction_id, created_at, first_response_at, resolved_at from stg_interactions order by 1"
    ) == [("I3", datetime(2024, 2, 1, 10), None, None), ("I4", datetime(2024, 2, 1, 10), None, None)]
    assert built.report("interactions") == {
        "source": "interactions", "rows_read": 4, "rows_loaded": 2, "rows_dropped": 2, "values_nulled": 4,
        "rows_after_as_of": 0,
    }


def test_interactions_before_signup_for_unknown_or_rejected_accounts_are_dropped(build):
    accounts = ACCOUNTS_OK + "A3,2024-03-01,2024-02-01,10,Pro\n"  # churn before signup: rejected
    interactions = (
        INTERACTIONS_HEADER
        + "I1,A1,2023-12-31 23:00,,,,,,,,,\n"
        + "I2,ZZ,2024-02-01,,,,,,,,,\n"
        + "I3,A3,2024-03-05,,,,,,,,,\n"
        + "I4,A1,2024-01-01 00:00,,,,,,,,,\n"
        + "I5,,2024-02-01,,,,,,,,,\n"
    )
    built = build(accounts=accounts, interactions=interactions)
    assert built.rejects("accounts") == [
        (3, "churn_date", "churn_date is before signup_date (2024-03-01)", "2024-02-01", "row_dropped"),
    ]
    assert built.rejects("interactions") == [
        (1, "created_at", "before the account's signup_date (2024-01-01)", "2023-12-31 23:00", "row_dropped"),
        (2, "account_id", "not found in the accounts file", "ZZ", "row_dropped"),
        (3, "account_id", "belongs to an accounts row that was rejected (see the accounts rejects)", "A3",
         "row_dropped"),
        (5, "account_id", "empty: every interaction needs the account it belongs to", None, "row_dropped"),
    ]
    assert built.rows("select interaction_id from stg_interactions") == [("I4",)]  # signup day itself is fine


def test_negative_and_non_numeric_mrr_is_emptied_and_the_account_kept(build):
    accounts = "account_id,signup_date,churn_date,mrr\nA1,2024-01-01,,-5\nA2,2024-01-01,,lots\nA3,2024-01-01,,\n"
    built = build(accounts=accounts, interactions=INTERACTIONS_HEADER)
    assert built.rejects("accounts") == [
        (1, "mrr", "negative MRR; revenue figures leave this account out", "-5", "value_nulled"),
        (2, "mrr", "not a number; revenue figures leave this account out", "lots", "value_nulled"),
        (3, "mrr", "empty; revenue figures leave this account out", None, "value_nulled"),
    ]
    assert built.rows("select account_id, mrr from stg_accounts order by 1") == [("A1", None), ("A2", None), ("A3", None)]
    assert built.report("accounts")["values_nulled"] == 3
    assert built.report("accounts")["rows_dropped"] == 0


def test_bad_interaction_values_are_emptied_and_the_interaction_kept(build):
    interactions = (
        INTERACTIONS_HEADER
        + "I1,A1,2024-02-01 10:00,,,critical,6,-1,1.5,maybe,-2,-3\n"
        + "I2,A1,2024-02-02 10:00,,,HIGH,0,2.5,-1,YES,0.5,abc\n"
        + "I3,A1,2024-02-03 10:00,,,Urgent,great,x,y,2,z,12.5\n"
        + "I4,A1,2024-02-04 10:00,,,low,5,2,0,0,3,0\n"
    )
    built = build(interactions=interactions)
    nulled = "value_nulled"
    assert built.rejects("interactions") == [
        (1, "agent_updates", "not a whole number >= 0", "-2", nulled),
        (1, "credit_amount", "not an amount >= 0", "-3", nulled),
        (1, "csat", "not a score from 1 to 5", "6", nulled),
        (1, "escalated", "not true/false (or 1/0, yes/no)", "maybe", nulled),
        (1, "handoffs", "not a whole number >= 0", "1.5", nulled),
        (1, "reopens", "not a whole number >= 0", "-1", nulled),
        (1, "severity", "not one of low, normal, high, urgent", "critical", nulled),
        (2, "agent_updates", "not a whole number >= 0", "0.5", nulled),
        (2, "credit_amount", "not an amount >= 0", "abc", nulled),
        (2, "csat", "not a score from 1 to 5", "0", nulled),
        (2, "handoffs", "not a whole number >= 0", "-1", nulled),
        (2, "reopens", "not a whole number >= 0", "2.5", nulled),
        (3, "agent_updates", "not a whole number >= 0", "z", nulled),
        (3, "csat", "not a score from 1 to 5", "great", nulled),
        (3, "escalated", "not true/false (or 1/0, yes/no)", "2", nulled),
        (3, "handoffs", "not a whole number >= 0", "y", nulled),
        (3, "reopens", "not a whole number >= 0", "x", nulled),
    ]
    assert built.rows(
        "select interaction_id, severity, csat, reopens, handoffs, escalated, agent_updates, credit_amount "
        "from stg_interactions order by 1"
    ) == [
        ("I1", None, None, None, None, None, None, None),
        ("I2", "high", None, None, None, True, None, None),
        ("I3", "urgent", None, None, None, None, None, 12.5),
        ("I4", "low", 5.0, 2, 0, False, 3, 0.0),
    ]
    assert built.report("interactions") == {
        "source": "interactions", "rows_read": 4, "rows_loaded": 4, "rows_dropped": 0, "values_nulled": 17,
        "rows_after_as_of": 0,
    }


def test_interactions_after_as_of_are_excluded_and_counted(build):
    interactions = (
        INTERACTIONS_HEADER
        + "I1,A1,2024-06-30 23:59:59,,,,,,,,,\n"  # the as-of day is included to its end
        + "I2,A1,2024-07-01 00:00:00,,,,,,,,,\n"
        + "I3,A1,2024-08-15,,,,,,,,,\n"
        + "I4,A1,2024-06-01 10:00,2024-07-02 10:00,,,,,,,,\n"  # answered after as-of: not yet known
    )
    built = build(interactions=interactions)
    assert built.rejects("interactions") == [
        (2, "created_at", "after the as-of date: excluded from this analysis", "2024-07-01 00:00:00", "row_dropped"),
        (3, "created_at", "after the as-of date: excluded from this analysis", "2024-08-15", "row_dropped"),
        (4, "first_response_at", "after the as-of date: not yet known then", "2024-07-02 10:00", "value_nulled"),
    ]
    assert built.report("interactions") == {
        "source": "interactions", "rows_read": 4, "rows_loaded": 2, "rows_dropped": 2, "values_nulled": 1,
        "rows_after_as_of": 2,
    }


# --- encodings, delimiters, quoting -------------------------------------------------------------------------


def test_utf8_bom_does_not_stick_to_the_first_header(build):
    built = build(accounts="\ufeff" + ACCOUNTS_OK)
    assert built.rows("select account_id from stg_accounts order by 1") == [("A1",), ("A2",)]
    assert built.rejects("accounts") == []
    assert built.result.warnings == []


@pytest.mark.parametrize("delimiter, name", [(";", "semicolon"), ("\t", "tab")])
def test_semicolon_and_tab_separated_files(build, delimiter, name):
    accounts = (
        f"account_id{delimiter}signup_date{delimiter}churn_date{delimiter}mrr{delimiter}plan\n"
        f"A1{delimiter}2024-01-01{delimiter}{delimiter}100,50{delimiter}Pro, annual\n"
    )
    built = build(accounts=accounts, interactions=INTERACTIONS_HEADER.replace(",", delimiter))
    # a decimal comma is not a number here; the comma inside a field is just text
    assert built.rejects("accounts") == [
        (1, "mrr", "not a number; revenue figures leave this account out", "100,50", "value_nulled"),
    ]
    assert built.rows("select account_id, plan from stg_account_segments") == [("A1", "Pro, annual")]
    info = json.loads(built.rows("select inputs_json from build_info")[0][0])
    assert {i["source"]: i["delimiter"] for i in info} == {"accounts": delimiter, "interactions": delimiter}


def test_latin1_file_loads_with_accents_intact_and_a_warning(build, tmp_path):
    accounts = write(
        tmp_path / "accounts.csv",
        "account_id,signup_date,churn_date,mrr,company\nA1,2024-01-01,,100,Café Müller\nA2,2024-01-05,,50,Señor\n",
        encoding="latin-1",
    )
    built = build(accounts=accounts)
    assert built.rows("select account_id, company from stg_account_segments order by 1") == [
        ("A1", "Café Müller"), ("A2", "Señor"),
    ]
    expected = f"{accounts}: not valid UTF-8; read as Latin-1 (ISO-8859-1). Check accented names look right."
    assert built.result.warnings == [expected]
    warnings_json, inputs_json = built.rows("select warnings_json, inputs_json from build_info")[0]
    assert json.loads(warnings_json) == [expected]
    assert {i["source"]: i["encoding"] for i in json.loads(inputs_json)} == {"accounts": "latin-1", "interactions": "utf-8"}


def test_crlf_line_endings_leave_no_carriage_return_in_values(build):
    built = build(accounts=ACCOUNTS_OK.replace("\n", "\r\n"), interactions=INTERACTIONS_OK.replace("\n", "\r\n"))
    assert built.rejects("accounts") == [] and built.rejects("interactions") == []
    assert built.rows("select account_id, mrr from stg_accounts order by 1") == [("A1", 100.0), ("A2", 50.0)]
    assert built.rows("select plan from stg_account_segments order by account_id") == [("Pro",), ("Basic",)]
    assert built.rows("select credit_amount from stg_interactions") == [(0.0,)]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_quoted_fields_with_delimiters_and_newlines_count_as_one_row(build, newline):
    accounts = newline.join([
        "account_id,signup_date,churn_date,mrr,note",
        'A1,2024-01-01,,100,"Big, important customer"',
        f'A2,2024-01-05,,50,"first line{newline}second line"',
        'A3,2024-01-07,,-1,"said ""hi"""',
        "",
    ])
    built = build(accounts=accounts)
    assert built.rows("select account_id, note from stg_account_segments order by 1") == [
        ("A1", "Big, important customer"), ("A2", f"first line{newline}second line"), ("A3", 'said "hi"'),
    ]
    # row numbers count records, not lines: A3 is data row 3 although it starts on line 5
    assert built.rejects("accounts") == [
        (3, "mrr", "negative MRR; revenue figures leave this account out", "-1", "value_nulled"),
    ]


def test_value_starting_with_hash_is_data_not_a_comment(build):
    accounts = "account_id,signup_date,churn_date,mrr,plan\n#42,2024-01-01,,100,#1 plan\nA2,2024-01-05,,50,Basic\n"
    interactions = INTERACTIONS_HEADER + "#I1,#42,2024-02-01,,,,,,,,,\n"
    built = build(accounts=accounts, interactions=interactions)
    assert built.rows("select account_id, plan from stg_account_segments order by 1") == [
        ("#42", "#1 plan"), ("A2", "Basic"),
    ]
    assert built.rows("select interaction_id, account_id from stg_interactions") == [("#I1", "#42")]
    assert built.report("accounts")["rows_read"] == 2


@pytest.mark.parametrize("token", ["NULL", "N/A", "null", "n/a", "NA", "None", "#N/A", "  "])
def test_null_tokens_in_churn_date_mean_still_a_customer(build, token):
    accounts = f"account_id,signup_date,churn_date,mrr\nA1,2024-01-01,{token},100\n"
    built = build(accounts=accounts, interactions=INTERACTIONS_HEADER)
    assert built.rejects("accounts") == []
    assert built.rows("select account_id, churn_date from stg_accounts") == [("A1", None)]
    assert built.rows("select count(*), sum(churned) from account_months") == [(6, 0)]


def test_null_token_is_a_real_id(build):
    """An id "NA" is an id, not a missing value."""
    accounts = "account_id,signup_date,churn_date,mrr\nNA,2024-01-01,,100\n"
    interactions = INTERACTIONS_HEADER + "NULL,NA,2024-02-01,,,,,,,,,\n"
    built = build(accounts=accounts, interactions=interactions)
    assert built.rows("select interaction_id, account_id from stg_interactions") == [("NULL", "NA")]


# --- column names a user might bring -------------------------------------------------------------------------

HOSTILE_HEADERS = ["plan tier", 'say "hi"', "select", 'x"; drop table stg_accounts; --', "churned", "Region"]


def test_hostile_column_names_become_segments_and_nothing_is_executed(build, tmp_path):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["account_id", "signup_date", "churn_date", "mrr", *HOSTILE_HEADERS])
    writer.writerow(["A1", "2024-01-01", "", "100", "Pro Plus", 'q"uote', "from", "v1", "yes", "EU"])
    writer.writerow(["A2", "2024-01-01", "2024-03-15", "50", "Basic", "b", "where", "v2", "no", "US"])
    built = build(accounts=buffer.getvalue(), interactions=INTERACTIONS_HEADER)

    stored = ["plan tier", 'say "hi"', "select", 'x"; drop table stg_accounts; --', "churned (input)", "Region"]
    assert [r[0] for r in built.rows("describe stg_account_segments")] == ["account_id", *stored]
    assert built.rows("select * from stg_account_segments order by account_id") == [
        ("A1", "Pro Plus", 'q"uote', "from", "v1", "yes", "EU"),
        ("A2", "Basic", "b", "where", "v2", "no", "US"),
    ]
    assert built.rows("select column_name, source_header, kind from segment_columns") == [
        (name, header, "categorical") for name, header in zip(stored, HOSTILE_HEADERS)
    ]
    # the panel carries every segment beside its own built columns; the user's 'churned' did not replace ours
    panel = built.rows(
        'select account_id, churned, "churned (input)", "select", "x""; drop table stg_accounts; --", "plan tier" '
        "from account_months where month_start = '2024-03-01' order by account_id"
    )
    assert panel == [("A1", 0, "yes", "from", "v1", "Pro Plus"), ("A2", 1, "no", "where", "v2", "Basic")]
    assert built.rows("select count(*) from stg_accounts") == [(2,)]
    assert built.result.warnings == [
        f"{tmp_path / 'accounts.csv'}: column 'churned' has the name of a built column; kept as segment 'churned (input)'"
    ]


# --- time zones -------------------------------------------------------------------------------------------


def test_timestamps_with_offsets_convert_to_utc_and_naive_means_utc(build):
    accounts = (
        "account_id,signup_date,churn_date,mrr\n"
        "A1,2024-01-01T02:00:00+05:00,,100\n"  # 2023-12-31 21:00 UTC
        "A2,2024-01-01T22:00:00-05:00,2024-03-31T23:30:00-02:00,100\n"  # 2024-01-02 03:00 UTC; churn Apr 1 UTC
    )
    interactions = (
        INTERACTIONS_HEADER
        + "I1,A1,2024-02-01T10:00:00+02:00,2024-02-01T09:30:00Z,2024-02-01 12:00,,,,,,,\n"
        + "I2,A1,2024-02-01T10:00:00,,,,,,,,,\n"
        + "I3,A2,2024-01-01T20:00:00-05:00,,,,,,,,,\n"  # Jan 2 01:00 UTC: on A2's signup day, kept
        + "I4,A2,2024-01-02T01:00:00+02:00,,,,,,,,,\n"  # Jan 1 23:00 UTC: before A2's signup day, dropped
    )
    built = build(accounts=accounts, interactions=interactions)
    assert built.rows("select account_id, signup_date, churn_date from stg_accounts order by 1") == [
        ("A1", date(2023, 12, 31), None), ("A2", date(2024, 1, 2), date(2024, 4, 1)),
    ]
    assert built.rows(
        "select interaction_id, created_at, first_response_at, resolved_at from stg_interactions order by 1"
    ) == [
        ("I1", datetime(2024, 2, 1, 8), datetime(2024, 2, 1, 9, 30), datetime(2024, 2, 1, 12)),
        ("I2", datetime(2024, 2, 1, 10), None, None),
        ("I3", datetime(2024, 1, 2, 1), None, None),
    ]
    assert built.rejects("interactions") == [
        (4, "created_at", "before the account's signup_date (2024-01-02)", "2024-01-02T01:00:00+02:00", "row_dropped"),
    ]


# --- Parquet ------------------------------------------------------------------------------------------------


def test_parquet_inputs_give_the_same_staging_tables_as_csv(build, tmp_path):
    accounts_csv = ACCOUNTS_OK + "A3,2024-02-30,,10,Pro\nA1,2024-01-02,,5,Dup\nA4,2024-02-01,,-3,Basic\n"
    interactions_csv = (
        INTERACTIONS_HEADER
        + "I1,A1,2024-02-01 09:00,2024-02-01 10:00,2024-02-02 09:00,normal,4,0,0,no,1,0\n"
        + "I2,A4,2024-03-01T10:00:00+02:00,,,HIGH,7,1,0,yes,0,25.5\n"
        + "I3,A3,2024-03-01,,,,,,,,,\n"
    )
    from_csv = build(accounts=accounts_csv, interactions=interactions_csv, db_name="csv.duckdb")

    accounts_pq = tmp_path / "accounts.parquet"
    interactions_pq = tmp_path / "interactions.parquet"
    for text, path in ((accounts_csv, accounts_pq), (interactions_csv, interactions_pq)):
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        frame.replace("", None).to_parquet(path, index=False)
    from_parquet = build(accounts=accounts_pq, interactions=interactions_pq, db_name="parquet.duckdb")

    for table in ("stg_accounts", "stg_account_segments", "stg_interactions", "rejected_rows", "load_report"):
        # a reject names its file: accounts.csv on one side, accounts.parquet on the other
        query = f"select * exclude (input_file) from {table} order by all" if table == "rejected_rows" \
            else f"select * from {table} order by all"
        assert from_parquet.rows(query) == from_csv.rows(query), table
    assert from_parquet.rows("select count(*) from stg_accounts") == [(3,)]
    info = json.loads(from_parquet.rows("select inputs_json from build_info")[0][0])
    assert {i["source"]: i["format"] for i in info} == {"accounts": "parquet", "interactions": "parquet"}


def test_parquet_with_native_types_matches_text(build, tmp_path):
    accounts_pq = tmp_path / "accounts.parquet"
    pd.DataFrame({
        "account_id": ["A1", "A2"],
        "signup_date": [date(2024, 1, 1), date(2024, 1, 5)],
        "churn_date": [None, date(2024, 4, 10)],
        "mrr": [100.0, 50.5],
        "seats": [3, 12],
    }).to_parquet(accounts_pq, index=False)
    interactions_pq = tmp_path / "interactions.parquet"
    pd.DataFrame({
        "interaction_id": ["I1"],
        "account_id": ["A1"],
        "created_at": pd.to_datetime(["2024-02-01 10:00"]).tz_localize("Europe/Berlin"),
        "csat": [4],
        "escalated": [True],
    }).to_parquet(interactions_pq, index=False)
    built = build(accounts=accounts_pq, interactions=interactions_pq)
    assert built.rows("select account_id, signup_date, churn_date, mrr from stg_accounts order by 1") == [
        ("A1", date(2024, 1, 1), None, 100.0), ("A2", date(2024, 1, 5), date(2024, 4, 10), 50.5),
    ]
    assert built.rows("select account_id, seats from stg_account_segments order by 1") == [("A1", 3.0), ("A2", 12.0)]
    assert built.rows("select created_at, csat, escalated from stg_interactions") == [
        (datetime(2024, 2, 1, 9), 4.0, True)  # 10:00 in Berlin (UTC+1 in winter)
    ]
    assert built.rejects("interactions") == []


def test_typed_parquet_gets_the_same_checks_and_rejects_as_text(build, tmp_path):
    """Parquet columns already of their kind skip the text round trip; every rule still applies to them."""
    ts = pd.Timestamp
    accounts = pd.DataFrame({
        "account_id": ["A1", "A2"],
        "signup_date": [date(2024, 1, 1), date(2024, 1, 5)],
        "churn_date": [None, date(2024, 4, 10)],
        "mrr": [100.0, float("nan")],  # NaN is empty, as the text 'nan' is
    })
    interactions = pd.DataFrame({
        "interaction_id": ["I1", "I2", "I2", "I3", "I4"],
        "account_id": ["A1", "A1", "A2", "A2", "A1"],
        "created_at": [ts("2024-02-01 09:00"), ts("2024-02-03 09:00"), ts("2024-02-04 09:00"),
                       ts("2024-01-02 09:00"), ts("2024-07-02 09:00")],  # I3: before signup; I4: after as-of
        "first_response_at": [ts("2024-01-31 10:00"), ts("2024-02-03 10:00"), None, None, None],  # I1: before created
        "csat": [4.0, float("nan"), 7.0, 3.0, 3.0],  # NaN empty, 7 out of range
        "reopens": [0, 1, 0, 0, 0],
        "escalated": [True, False, True, False, False],
        "credit_amount": [0.0, -5.0, 0.0, 0.0, 0.0],  # negative: emptied
        "agent_updates": [float("inf"), 1.0, 0.0, 0.0, 0.0],  # infinity: not a number, as the text 'inf' is not
    })
    mrr_history = pd.DataFrame({"account_id": ["A1", "A1", "A2"],
                                "month": [date(2024, 1, 1), date(2024, 2, 15), date(2024, 1, 1)],
                                "mrr": [100.0, float("inf"), -3.0]})  # infinity: rejected as the text 'inf' is
    paths = {}
    for name, frame in (("accounts", accounts), ("interactions", interactions), ("mrr_history", mrr_history)):
        paths[name] = tmp_path / f"{name}.parquet"
        frame.to_parquet(paths[name], index=False)
        csv_frame = frame.copy()
        for column in csv_frame.columns:  # ISO text, as an export would write it
            if pd.api.types.is_datetime64_any_dtype(csv_frame[column]):
                csv_frame[column] = csv_frame[column].dt.strftime("%Y-%m-%d %H:%M:%S")
        paths[name + "_csv"] = tmp_path / f"{name}.csv"
        csv_frame.to_csv(paths[name + "_csv"], index=False)
    typed = build(accounts=paths["accounts"], interactions=paths["interactions"], mrr_history=paths["mrr_history"],
                  db_name="typed.duckdb")
    text = build(accounts=paths["accounts_csv"], interactions=paths["interactions_csv"],
                 mrr_history=paths["mrr_history_csv"], db_name="text.duckdb")
    for table in ("stg_accounts", "stg_interactions", "stg_mrr_history", "load_report"):
        query = f"select * exclude (source_row) from {table} order by all" if table != "load_report" else \
            f"select * from {table} order by all"
        assert typed.rows(query) == text.rows(query), table
    reasons = 'select source, row_number, "column", reason, action from rejected_rows order by all'
    assert typed.rows(reasons) == text.rows(reasons)
    assert [r[:3] for r in typed.rows(reasons) if r[0] == "interactions"] == [
        ("interactions", 1, "agent_updates"), ("interactions", 1, "first_response_at"),
        ("interactions", 2, "credit_amount"),
        ("interactions", 3, "interaction_id"), ("interactions", 4, "created_at"), ("interactions", 5, "created_at")]
    # the raw value of a typed column is shown as text
    assert typed.rows("select raw_value from rejected_rows where source = 'interactions' and row_number = 1 "
                      'order by "column"') == [("inf",), ("2024-01-31 10:00:00",)]


def test_folder_or_glob_of_parquet_files_is_one_input_and_rejects_name_the_file_and_row(build, tmp_path):
    """A lake holds a table as a folder of Parquet files: three files, read in path order, give the tables one
    file with the same rows gives; a bad row in the second file is rejected under its row number counted
    through the files, with the file and its row within that file named."""
    accounts_csv = ACCOUNTS_OK + "A3,2024-02-01,,10,Pro\nA4,2024-02-01,,12,Basic\n"
    rows = [
        ["I1", "A1", "2024-02-01 09:00", "2024-02-01 10:00", "", "normal", "4", "0", "0", "no", "1", "0"],
        ["I2", "A2", "2024-02-02 09:00", "", "", "high", "5", "0", "0", "no", "0", "0"],
        ["I3", "A1", "2024-02-03 09:00", "", "", "low", "3", "0", "0", "no", "0", "0"],
        ["I4", "A3", "2024/02/04 09:00", "", "", "low", "3", "0", "0", "no", "0", "0"],  # not an ISO date
        ["I5", "A4", "2024-02-05 09:00", "", "", "urgent", "2", "0", "0", "no", "0", "0"],
        ["I6", "A4", "2024-02-06 09:00", "", "", "normal", "1", "0", "0", "no", "0", "0"],
    ]
    columns = INTERACTIONS_HEADER.strip().split(",")
    frame = pd.DataFrame(rows, columns=columns).replace("", None)
    accounts = write(tmp_path / "accounts.csv", accounts_csv)
    frame.to_parquet(tmp_path / "interactions.parquet", index=False)
    single = build(accounts=accounts, interactions=tmp_path / "interactions.parquet", db_name="single.duckdb")
    lake = tmp_path / "lake" / "interactions"
    (lake / "part=b").mkdir(parents=True)
    frame.iloc[:2].to_parquet(lake / "part-0.parquet", index=False)
    frame.iloc[2:4].to_parquet(lake / "part=b" / "data.parquet", index=False)  # sub-folders, as partitions
    frame.iloc[4:].to_parquet(lake / "part=c.parquet", index=False)
    write(lake / "_SUCCESS", "")  # the markers a Spark job leaves are not data
    from_folder = build(accounts=accounts, interactions=lake, db_name="folder.duckdb")
    from_glob = build(accounts=accounts, interactions=lake / "**" / "*.parquet", db_name="glob.duckdb")

    for built in (from_folder, from_glob):
        for table in ("stg_accounts", "stg_interactions", "interaction_metrics", "account_months", "load_report"):
            query = f"select * from {table} order by all"
            assert built.rows(query) == single.rows(query), table
        query = 'select * exclude (input_file, input_file_row_number) from rejected_rows order by all'
        assert built.rows(query) == single.rows(query)
    # part-0 (rows 1-2), part=b/data (rows 3-4), part=c (rows 5-6): I4 is row 4, the second row of the second file
    assert from_folder.rows('select row_number, "column", input_file, input_file_row_number from rejected_rows '
                            'where source = \'interactions\' order by all') == [
        (4, "created_at", str(lake / "part=b" / "data.parquet"), 2)]
    assert single.rows("select distinct input_file, input_file_row_number from rejected_rows "
                       "where source = 'interactions'") == [(str(tmp_path / "interactions.parquet"), 4)]
    info = {i["source"]: i for i in json.loads(from_folder.rows("select inputs_json from build_info")[0][0])}
    assert info["interactions"]["rows"] == 6 and len(info["interactions"]["files"]) == 3


def test_no_usable_account_names_each_rejected_row_by_file_and_row(tmp_path):
    """Every accounts row rejected stops the build; the message says where each row is: its row in a single file,
    its file and its row there in a folder of files."""
    interactions = write(tmp_path / "interactions.csv", INTERACTIONS_OK)
    accounts = write(tmp_path / "accounts.csv", "account_id,signup_date,churn_date,mrr\nA1,2024/01/01,,1\n"
                     "A2,,,1\n")
    error = build_error(tmp_path, accounts, interactions)
    assert str(error) == (f"{accounts}: no usable accounts: every row was rejected (row 1, column 'signup_date': "
                          "not a valid ISO 8601 date (YYYY-MM-DD); row 2, column 'signup_date': empty: every account "
                          "needs a signup date)")
    folder = tmp_path / "accounts"
    folder.mkdir()
    frame = pd.read_csv(accounts, dtype=str, keep_default_na=False).replace("", None)
    frame.iloc[:1].to_parquet(folder / "a.parquet", index=False)
    frame.iloc[1:].to_parquet(folder / "b.parquet", index=False)
    accounts.unlink()
    error = build_error(tmp_path, folder, interactions)
    assert str(error) == (f"{folder}: no usable accounts: every row was rejected ({folder / 'a.parquet'}, row 1, "
                          "column 'signup_date': not a valid ISO 8601 date (YYYY-MM-DD); "
                          f"{folder / 'b.parquet'}, row 1, column 'signup_date': empty: every account needs a "
                          "signup date)")


def test_a_url_input_needs_the_spark_engine(tmp_path):
    """DuckDB reads local files; a lake URL is passed to Spark with --engine spark (tests/test_spark_parity.py)."""
    interactions = write(tmp_path / "interactions.csv", INTERACTIONS_OK)
    error = build_error(tmp_path, "s3a://bucket/lake/accounts/", interactions)
    assert error.path == "s3a://bucket/lake/accounts/"  # the URL as given, not folded into a path
    assert "the DuckDB engine does not read" in str(error) and "build with --engine spark" in str(error)


def test_file_named_parquet_that_is_not_parquet(tmp_path):
    accounts = write(tmp_path / "accounts.parquet", ACCOUNTS_OK)
    interactions = write(tmp_path / "interactions.csv", INTERACTIONS_OK)
    error = build_error(tmp_path, accounts, interactions)
    assert error.path == str(accounts)
    assert "cannot be read as Parquet" in str(error)


# --- the command line -----------------------------------------------------------------------------------------


def test_cli_build_returns_2_and_prints_the_missing_column(tmp_path, capsys):
    accounts = write(tmp_path / "accounts.csv", "account_id,signup,churn_date,mrr\nA1,2024-01-01,,100\n")
    interactions = write(tmp_path / "interactions.csv", INTERACTIONS_OK)
    db_path = tmp_path / "retention.duckdb"
    code = main(["build", "--accounts", str(accounts), "--interactions", str(interactions), "--db", str(db_path),
                 "--as-of", "2024-06-30"])
    assert code == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {accounts}, column 'signup_date': missing required column signup_date in the accounts file; "
        "columns found: ['account_id', 'signup', 'churn_date', 'mrr'].\n"
    )
    assert not db_path.exists()


def test_unterminated_quote_names_file_and_line(tmp_path):
    accounts = write(tmp_path / "accounts.csv", ACCOUNTS_OK + 'A3,2024-01-01,,1,"Pro\nA4,2024-01-01,,1,Pro\n')
    interactions = write(tmp_path / "interactions.csv", INTERACTIONS_OK)
    error = build_error(tmp_path, accounts, interactions)
    assert str(error).startswith(f"{accounts}: is not a well-formed CSV table at line 4: Value with unterminated quote found. ")
