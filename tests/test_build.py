"""The build as a whole: atomic replacement, build_info, as-of defaults, marts and audits."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pytest

from pipelines import build_run
from pipelines.build import AuditError, build_database, run_audits
from pipelines.cli import main
from pipelines.errors import InputError
from pipelines.plan import read_plan
from pipelines.settings import BuildSettings
from pipelines.sqlrun import sql_text
from tests.conftest import ACCOUNT_HEADER, INTERACTION_HEADER, write_csv

ACCOUNTS = [
    {"account_id": "A", "signup_date": "2024-01-10", "churn_date": "", "mrr": "100", "plan": "Starter"},
    {"account_id": "B", "signup_date": "2024-02-01", "churn_date": "2024-04-15", "mrr": "200", "plan": "Growth"},
    {"account_id": "C", "signup_date": "2024-02-20", "churn_date": "", "mrr": "300", "plan": "Growth"},
]
INTERACTIONS = [
    {"interaction_id": "I1", "account_id": "A", "created_at": "2024-01-20T10:00:00Z",
     "first_response_at": "2024-01-20T12:00:00Z", "resolved_at": "2024-01-21T10:00:00Z", "severity": "normal"},
    {"interaction_id": "I2", "account_id": "B", "created_at": "2024-05-20T10:00:00Z"},  # after the as-of date
]


def write_inputs(tmp_path, accounts=ACCOUNTS, interactions=INTERACTIONS):
    return (
        write_csv(tmp_path / "accounts.csv", ACCOUNT_HEADER, accounts),
        write_csv(tmp_path / "interactions.csv", INTERACTION_HEADER, interactions),
    )


def read_one(db_path, sql):
    with duckdb.connect(str(db_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_build_failed_input_leaves_previous_database_intact(tmp_path):
    accounts, interactions = write_inputs(tmp_path)
    db = tmp_path / "retention.duckdb"
    first = build_database(accounts, interactions, db, settings=BuildSettings(as_of=date(2024, 5, 1)))
    bad_accounts = write_csv(tmp_path / "bad.csv", ["account_id", "signup"], [["A", "2024-01-01"]])
    with pytest.raises(InputError, match="missing required column"):
        build_database(bad_accounts, interactions, db)
    assert read_one(db, "select build_id from build_info") == [(first.build_id,)]
    assert read_one(db, "select count(*) from stg_accounts") == [(3,)]
    assert sorted(p.name for p in tmp_path.iterdir() if "building" in p.name) == []


def test_build_failed_audit_leaves_previous_database_intact(tmp_path, monkeypatch):
    accounts, interactions = write_inputs(tmp_path)
    db = tmp_path / "retention.duckdb"
    first = build_database(accounts, interactions, db, settings=BuildSettings(as_of=date(2024, 5, 1)))

    def failing_audits(con, names=None):
        con.execute("create table broken as select 1 as x")
        raise AuditError("audit unique_accounts failed")

    monkeypatch.setattr(build_run, "run_audits", failing_audits)
    with pytest.raises(AuditError):
        build_database(accounts, interactions, db, settings=BuildSettings(as_of=date(2024, 5, 1)))
    assert read_one(db, "select build_id from build_info") == [(first.build_id,)]
    assert not [p for p in tmp_path.iterdir() if "building" in p.name]


def test_build_replaces_database_while_a_reader_has_it_open(tmp_path):
    accounts, interactions = write_inputs(tmp_path)
    db = tmp_path / "retention.duckdb"
    first = build_database(accounts, interactions, db, settings=BuildSettings(as_of=date(2024, 5, 1)))
    reader = duckdb.connect(str(db), read_only=True)
    second = build_database(accounts, interactions, db, settings=BuildSettings(as_of=date(2024, 5, 1)))
    # the open reader keeps serving the old build; a new connection sees the new one
    assert reader.execute("select build_id from build_info").fetchall() == [(first.build_id,)]
    reader.close()
    assert read_one(db, "select build_id from build_info") == [(second.build_id,)]


def test_build_info_records_inputs_settings_and_counts(tmp_path):
    accounts, interactions = write_inputs(tmp_path)
    db = tmp_path / "retention.duckdb"
    result = build_database(accounts, interactions, db,
                            settings=BuildSettings(as_of=date(2024, 5, 1), sla_hours={"low": 48}))
    with duckdb.connect(str(db), read_only=True) as con:
        info = con.execute("select * from build_info").df().iloc[0]
    assert str(info.as_of_date)[:10] == "2024-05-01"
    inputs = {i["source"]: i for i in json.loads(info.inputs_json)}
    assert inputs["accounts"]["size_bytes"] == accounts.stat().st_size
    assert len(inputs["accounts"]["sha256"]) == 64
    assert inputs["interactions"]["rows"] == 2
    settings = json.loads(info.settings_json)
    assert settings["sla_hours"] == {"urgent": 1.0, "high": 4.0, "normal": 8.0, "low": 48.0}
    counts = json.loads(info.row_counts_json)
    assert counts["stg_accounts"] == 3 and counts["account_months"] == result.table_rows["account_months"]
    assert info.revenue_basis == "flat_mrr"


def test_build_default_as_of_is_latest_date_in_inputs(tmp_path):
    accounts, interactions = write_inputs(tmp_path)
    result = build_database(accounts, interactions, tmp_path / "r.duckdb")
    assert result.as_of == date(2024, 5, 20)  # I2's created_at is the latest timestamp


def test_load_report_counts_interactions_after_as_of(tmp_path):
    accounts, interactions = write_inputs(tmp_path)
    result = build_database(accounts, interactions, tmp_path / "r.duckdb", settings=BuildSettings(as_of=date(2024, 5, 1)))
    report = {r["source"]: r for r in result.load_report}
    assert report["interactions"] == {"source": "interactions", "rows_read": 2, "rows_loaded": 1, "rows_dropped": 1,
                                      "values_nulled": 0, "rows_after_as_of": 1}
    assert report["accounts"]["rows_loaded"] == 3
    for row in report.values():
        assert row["rows_read"] == row["rows_loaded"] + row["rows_dropped"]


def test_kpi_monthly_counts_and_revenue_retention(tmp_path):
    accounts, interactions = write_inputs(tmp_path)
    mrr = write_csv(tmp_path / "mrr.csv", ["account_id", "month", "mrr"], [
        ["A", "2024-01", "100"], ["A", "2024-02", "100"], ["A", "2024-03", "120"], ["A", "2024-04", "90"],
        ["B", "2024-02", "200"], ["B", "2024-03", "200"], ["B", "2024-04", "200"],
        ["C", "2024-02", "300"], ["C", "2024-03", "300"], ["C", "2024-04", "300"],
    ])
    db = tmp_path / "r.duckdb"
    build_database(accounts, interactions, db, mrr_history=mrr, settings=BuildSettings(as_of=date(2024, 4, 30)))
    with duckdb.connect(str(db), read_only=True) as con:
        kpi = con.execute("select * from kpi_monthly").df().set_index("month_start")
    march, april = kpi.loc["2024-03-01"], kpi.loc["2024-04-01"]
    assert (march.accounts_at_start, march.new_accounts, march.churned_accounts) == (3, 0, 0)
    assert march.starting_mrr == 600.0 and march.expansion_mrr == 20.0
    assert march.net_revenue_retention == pytest.approx(620 / 600)
    assert march.gross_revenue_retention == pytest.approx(1.0)
    # April: B churns (200 of 620 lost), A contracts 120 -> 90
    assert (april.accounts_at_start, april.churned_accounts, april.logo_churn_rate) == (3, 1, pytest.approx(1 / 3))
    assert april.churned_mrr == 200.0 and april.contraction_mrr == 30.0
    assert april.gross_revenue_retention == pytest.approx((620 - 200 - 30) / 620)
    assert bool(april.is_partial_month) is False
    assert set(kpi.revenue_basis) == {"mrr_history"}


def test_cohort_retention_counts_fully_observed_months(tmp_path):
    accounts, interactions = write_inputs(tmp_path)
    db = tmp_path / "r.duckdb"
    build_database(accounts, interactions, db, settings=BuildSettings(as_of=date(2024, 5, 10)))
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select months_since_signup, cohort_accounts, retained_accounts, retained_account_share "
            "from cohort_retention where cohort_month = date '2024-02-01' order by 1"
        ).fetchall()
    # B and C signed up in February; B churned on Apr 15 (month 2); May is not complete at the as-of date
    assert rows == [(0, 2, 2, 1.0), (1, 2, 2, 1.0), (2, 2, 1, 0.5)]


def test_run_audits_reports_offending_rows():
    con = duckdb.connect()
    con.execute("create table stg_accounts as select * from (values ('A'), ('A'), ('B')) v(account_id)")
    with pytest.raises(AuditError, match=r"(?s)unique_accounts.*account_id='A', n_rows=2"):
        run_audits(con, ["unique_accounts"])


def test_uniqueness_audits_find_repeated_interactions_and_panel_rows_and_pass_clean_ones():
    con = duckdb.connect()
    con.execute("create table stg_interactions as select * from (values ('i1'), ('i2'), ('i2'), ('i3')) "
                "v(interaction_id)")
    con.execute("create table account_months as select * from (values ('A', date '2024-01-01'), "
                "('A', date '2024-02-01'), ('B', date '2024-01-01'), ('B', date '2024-01-01')) v(account_id, month_start)")
    with pytest.raises(AuditError) as failed:
        run_audits(con, ["unique_interactions", "unique_panel_rows"])
    assert "interaction_id='i2', n_rows=2" in str(failed.value)
    assert "account_id='B', month_start=datetime.date(2024, 1, 1), n_rows=2" in str(failed.value)
    assert "'A'" not in str(failed.value) and "'i1'" not in str(failed.value)
    con.execute("delete from stg_interactions where interaction_id = 'i2'")
    con.execute("delete from account_months where account_id = 'B'")
    assert run_audits(con, ["unique_interactions", "unique_panel_rows"]) == 2


def test_cli_build_prints_progress_and_load_report(tmp_path, capsys):
    accounts, interactions = write_inputs(tmp_path)
    db = tmp_path / "r.duckdb"
    code = main(["build", "--accounts", str(accounts), "--interactions", str(interactions), "--db", str(db),
                 "--as-of", "2024-05-01", "--sla", "urgent=2,high=4"])
    out = capsys.readouterr().out
    assert code == 0
    assert "account_months" in out and "rows" in out
    assert "after the as-of date" in out
    assert read_one(db, "select target_hours from sla_target_hours where severity = 'urgent'") == [(2.0,)]


def test_cli_build_rejects_bad_sla(tmp_path, capsys):
    accounts, interactions = write_inputs(tmp_path)
    code = main(["build", "--accounts", str(accounts), "--interactions", str(interactions),
                 "--db", str(tmp_path / "r.duckdb"), "--sla", "critical=1"])
    assert code == 2
    assert "unknown severity ['critical']" in capsys.readouterr().err


def test_scale_settings_are_checked_and_recorded(tmp_path):
    from pipelines.settings import SettingsError

    for bad in ({"drivers_sample": 10}, {"memory_limit_mb": 100}):
        with pytest.raises(SettingsError):
            BuildSettings(**bad)
    accounts, interactions = write_inputs(tmp_path)
    db = tmp_path / "retention.duckdb"
    build_database(accounts, interactions, db,
                   settings=BuildSettings(as_of=date(2024, 5, 1), drivers_sample=None, memory_limit_mb=512))
    settings = json.loads(read_one(db, "select settings_json from build_info")[0][0])
    assert settings["drivers_sample"] is None and settings["memory_limit_mb"] == 512


def test_retention_help_lists_every_command(capsys):
    """`retention --help` prints (a literal % in a help text would make argparse fail to format it)."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for command in ("demo", "build", "drivers", "km", "revenue", "whatif", "risk", "import", "bench", "serve"):
        assert f"    {command}" in out


def test_interactions_are_stored_once_and_every_table_is_counted(tmp_path):
    """stg_interactions is a view of interaction_metrics (which carries each staged column), so the database holds
    the interactions once; the build's working tables are not in the file; the Data page's table list still gives
    every table and view with the build's own row count."""
    accounts, interactions = write_inputs(tmp_path)
    db = tmp_path / "retention.duckdb"
    result = build_database(accounts, interactions, db, settings=BuildSettings(as_of=date(2024, 5, 1)))
    with duckdb.connect(str(db), read_only=True) as con:
        views = {r[0] for r in con.execute("select view_name from duckdb_views() where not internal").fetchall()}
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        assert "stg_interactions" in views and "stg_interactions" not in tables
        assert not tables & set(read_plan().dropped)
        staged = con.execute("select source_row, interaction_id, account_id, created_at, reopens, csat "
                             "from stg_interactions").fetchall()
        assert [(row, iid, acc) for row, iid, acc, *_ in staged] == [(1, "I1", "A")]
        counts = dict(con.execute(sql_text("queries", "table_row_counts")).fetchall())
    assert counts["stg_interactions"] == counts["interaction_metrics"] == 1
    assert counts == result.table_rows


def test_churn_reasons_map_to_causes_and_the_mapping_is_recorded(build_rows, tmp_path):
    """A listed reason counts under its cause (case and spaces ignored), an unlisted one under other_reasons, a
    churn with no reason is 'unknown', an account still a customer has none; an analyst's file replaces the
    built-in one, and build_info records the mapping used."""
    header = ["account_id", "signup_date", "churn_date", "mrr", "plan", "churn_reason"]
    accounts = [["A1", "2024-01-01", "2024-03-01", "100", "Pro", " Payment_Failed"],
                ["A2", "2024-01-01", "2024-03-05", "100", "Pro", "too expensive"],
                ["A3", "2024-01-01", "2024-03-09", "100", "Pro", ""],
                ["A4", "2024-01-01", "", "100", "Pro", ""],
                ["A5", "2024-01-01", "2024-04-01", "100", "Pro", "moved to free plan"]]
    built = build_rows(accounts, [], as_of=date(2024, 6, 30), account_header=header, fit_models=False)
    causes = dict(built.con.execute("select account_id, churn_cause from account_survival").fetchall())
    assert causes == {"A1": "involuntary", "A2": "voluntary", "A3": "unknown", "A4": None, "A5": "voluntary"}
    used = json.loads(built.con.execute("select settings_json from build_info").fetchone()[0])["churn_reasons_used"]
    assert used["source"] == "built-in" and used["reasons"]["payment_failed"] == "involuntary"
    # what the file did not map is listed with its count, never mapped unseen
    assert built.result.churn_reasons_not_listed == [
        {"reason": "moved to free plan", "cause": "voluntary", "mapped_by": "not listed: counted under other_reasons",
         "accounts": 1},
        {"reason": "too expensive", "cause": "voluntary", "mapped_by": "not listed: counted under other_reasons",
         "accounts": 1},
        {"reason": None, "cause": "unknown", "mapped_by": "no reason given", "accounts": 1}]
    built.con.close()  # DuckDB keeps one instance per open file: the rebuild's file is read afresh

    mine = tmp_path / "reasons.toml"
    mine.write_text('other_reasons = "voluntary"\n[reasons]\n"moved to free plan" = "downgrade_to_free"\n',
                    encoding="utf-8")
    built = build_rows(accounts, [], as_of=date(2024, 6, 30), account_header=header, fit_models=False,
                       churn_reasons=str(mine))
    causes = dict(built.con.execute("select account_id, churn_cause from account_survival").fetchall())
    assert causes["A5"] == "downgrade_to_free" and causes["A1"] == "voluntary"  # payment_failed not listed here


def test_a_bad_churn_reasons_file_stops_the_build_naming_the_line(tmp_path, capsys):
    """An empty cause is refused before any work, naming the file and the line; so is a file that is not TOML."""
    bad = tmp_path / "reasons.toml"
    bad.write_text('other_reasons = "voluntary"\n[reasons]\npayment_failed = ""\n', encoding="utf-8")
    accounts = write_csv(tmp_path / "accounts.csv", ["account_id", "signup_date", "churn_date", "mrr"],
                         [["A1", "2024-01-01", "", "10"]])
    interactions = write_csv(tmp_path / "interactions.csv", ["interaction_id", "account_id", "created_at"], [])
    db = tmp_path / "retention.duckdb"
    code = main(["build", "--accounts", str(accounts), "--interactions", str(interactions), "--db", str(db),
                     "--churn-reasons", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and f"{bad}, line 3" in err and "payment_failed" in err and not db.exists()
    bad.write_text("[reasons\n", encoding="utf-8")
    assert main(["build", "--accounts", str(accounts), "--interactions", str(interactions), "--db", str(db),
                     "--churn-reasons", str(bad)]) == 2
    assert "is not valid TOML" in capsys.readouterr().err


def test_a_build_whose_drivers_model_cannot_be_fitted_stores_every_model_table_and_says_why(tmp_path):
    """The forecast and the revenue effects are fitted beside the drivers model: when it cannot be fitted (no account
    has churned), the build still ends, the forecast is stored (or why not), and every model table says why it is
    empty."""
    accounts = [{**row, "churn_date": ""} for row in ACCOUNTS]
    accounts_csv, interactions_csv = write_inputs(tmp_path, accounts=accounts)
    db = tmp_path / "retention.duckdb"
    result = build_database(accounts_csv, interactions_csv, db, settings=BuildSettings(as_of=date(2024, 5, 1)))
    assert any(note.startswith("drivers model not fitted") for note in result.notes)
    info = dict(read_one(db, "select model, info_json from model_info"))
    assert "forecast" in info and "service_drivers" in info
    assert "churn" in json.loads(info["service_drivers"])["error"]
    assert read_one(db, "select count(*) from factor_revenue_effects") == [(0,)]
    assert read_one(db, "select count(*) from driver_effects") == [(0,)]
