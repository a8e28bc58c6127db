"""Rebuilding from uploads (the Data page): names chosen by the app, imports converted, old build kept on failure."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dashboard import data
from dashboard.rebuild import (UploadError, import_and_rebuild, inputs_table, max_upload_mb, planted_document,
                               rebuild_from_uploads, save_upload)
from pipelines.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures" / "imports"


def test_save_upload_chooses_the_name_and_detects_parquet(tmp_path):
    assert save_upload(b"PAR1....", tmp_path, "accounts").name == "accounts.parquet"
    assert save_upload(b"account_id,signup_date\n", tmp_path, "accounts").name == "accounts.csv"
    with pytest.raises(UploadError, match="larger than 500 MB"):
        save_upload(b"x" * (max_upload_mb() * 1024 * 1024 + 1), tmp_path, "accounts")


def test_import_and_rebuild_zendesk_and_stripe(tmp_path):
    db = tmp_path / "retention.duckdb"
    uploads = {"tickets": (FIXTURES / "zendesk_tickets.csv").read_bytes(),
               "subscriptions": (FIXTURES / "stripe_subscriptions.csv").read_bytes()}
    result, reports = import_and_rebuild("zendesk_stripe", uploads, db,
                                         {"timezone": "Europe/Berlin", "hours": "calendar", "account_key": "domain"})
    assert len(reports) == 2 and "rows read" in reports[0] + reports[1]
    with duckdb.connect(str(db), read_only=True) as con:
        loaded = dict(con.execute("select source, rows_loaded from load_report").fetchall())
    assert loaded["accounts"] == 6 and loaded["interactions"] == 7
    assert result.as_of is not None


def test_failed_upload_build_keeps_the_previous_database(tmp_path):
    db = tmp_path / "retention.duckdb"
    good = {"tickets": (FIXTURES / "zendesk_tickets.csv").read_bytes(),
            "subscriptions": (FIXTURES / "stripe_subscriptions.csv").read_bytes()}
    first, _ = import_and_rebuild("zendesk_stripe", good, db, {"timezone": "Europe/Berlin", "account_key": "domain"})
    with pytest.raises(InputError, match="missing required column"):
        rebuild_from_uploads({"accounts": b"id,signup\nA,2024-01-01\n", "interactions": b"interaction_id\n"}, db)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select build_id from build_info").fetchone()[0] == first.build_id


def test_import_rebuild_names_each_input_by_the_export_it_came_from(tmp_path):
    db = tmp_path / "retention.duckdb"
    uploads = {"tickets": (FIXTURES / "zendesk_tickets.csv").read_bytes(),
               "subscriptions": (FIXTURES / "stripe_subscriptions.csv").read_bytes()}
    import_and_rebuild("zendesk_stripe", uploads, db, {"timezone": "Europe/Berlin", "account_key": "domain"},
                       names={"tickets": "zendesk June.csv", "subscriptions": "stripe June.csv"})
    with duckdb.connect(str(db), read_only=True) as con:
        info = data.build_info(con)
    shown = inputs_table(info).set_index("input")
    assert shown.loc["accounts", "file"] == "accounts.csv converted from stripe June.csv"
    assert shown.loc["interactions", "file"] == "interactions.csv converted from zendesk June.csv"
    assert shown.loc["interactions", "rows"] == 7
    assert planted_document(info) is None


def test_failed_upload_build_names_the_uploaded_file_not_the_temporary_copy(tmp_path):
    with pytest.raises(InputError) as raised:
        rebuild_from_uploads({"accounts": b"id,signup\nA,2024-01-01\n", "interactions": b"interaction_id\n"},
                             tmp_path / "retention.duckdb", names={"accounts": "crm accounts.csv"})
    assert str(raised.value).startswith("crm accounts.csv, column 'account_id': missing required columns")
    assert raised.value.path == "crm accounts.csv"
