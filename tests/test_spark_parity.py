"""The Spark engine gives the DuckDB engine's database: every table, the rejects and the load report included.

One small demo (300 accounts as a Parquet file of text; interactions as a folder of Parquet files with typed
timestamps; both read by the Spark build itself from file:// URLs; the MRR history CSV) plus bad rows that touch each place where the engines differ: a decimal
where a whole number is wanted, second and day differences across a boundary, date and number spellings one
engine parses and the other does not (`2024/03/05`, `2024`, `24:00`, `1_000`, `1d`), text typed by typeof().
Both builds run here, the Spark one on a single local[2] session; each table must match DuckDB's: the same
columns and types, the same rows, floats within 1e-9 relative. Spark and Java are required: without them this
test skips locally and fails under CI (env var CI set), like the browser test.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import time

import duckdb
import pytest

from pipelines.build import build_database
from pipelines.demo import generate_demo
from pipelines.plan import read_plan
from pipelines.settings import BuildSettings

pytestmark = pytest.mark.spark

RELATIVE_TOLERANCE = 1e-9
# The large tables a Spark build leaves as Parquet, the database reading them through views
PARQUET_VIEWS = read_plan().parquet_views
# build_info holds the build's own id, times and engine settings, refresh_basis the engine that made the build: not
# results of the data. input_digests serve a refresh, which runs on DuckDB: a build whose inputs Spark read has none.
NOT_COMPARED = {"build_info", "refresh_basis", "input_digests"}


def compared_counts(counts) -> dict:
    """(table, rows) pairs but the tables not compared, as a dict."""
    return {name: rows for name, rows in counts if name not in NOT_COMPARED}
# A fitted model's stored state (coefficients, variance, the time it was fitted): the same models by name
MODEL_STATE = {"driver_model_state": 0, "factor_model_state": 1, "model_info": 1}


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"Spark parity test cannot run under CI: {reason}")
    pytest.skip(reason)


def require_spark() -> None:
    """Skip (fail under CI) when pyspark, sqlglot or a Java runtime is missing."""
    for module in ("pyspark", "sqlglot"):
        try:
            __import__(module)
        except ImportError:
            _unavailable(f"{module} is not installed (pip install -e '.[spark]')")
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        _unavailable("no Java runtime (apt-get install openjdk-17-jre-headless)")


def _append_rows(path, rows):
    with path.open("a", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


# Each bad row names the engine difference it touches.
BAD_ACCOUNTS = [
    ["X-slash", "2024/03/05", "", "100"],  # DuckDB parses a slashed date, Spark does not
    ["X-year", "2024", "", "100"],  # Spark parses a bare year, DuckDB does not
    ["X-h24", "2024-03-05 24:00:00", "", "100"],  # DuckDB takes hour 24
    ["X-offset", "2024-03-05 23:30:00-05:00", "", "1e3"],  # an offset moves the date (the same on both)
    ["X-under", "2024-03-05", "", "1_000"],  # DuckDB parses 1_000 as a number
    ["X-double", "2024-03-05", "", "12d"],  # Java parses 12d as a number
    ["X-decimal", "2024-03-05", "2025-01-01T10", "99.995"],  # Spark parses a bare hour
    ["X-churn", "2024-01-10", "2024-01-09", "10"],  # churn before signup
]
BAD_INTERACTIONS = [
    # fractional whole numbers (DuckDB rounds a decimal to an integer, Spark truncates): reopens 1.5, handoffs 2.5
    ["Y-frac", "A000001", "2024-01-02 08:00:00", "2024-01-02 09:00:00", "2024-01-03 10:00:00", "email", "high",
     "4.5", "1.5", "2.5", "yes", "3.7", "1_000"],
    # a second boundary crossed in 0.2 s, a day boundary in 2 hours
    ["Y-second", "A000002", "2024-02-01 23:00:00.9", "2024-02-01 23:00:01.1", "2024-02-02 01:00:00", "chat", "low",
     "5", "0", "0", "no", "1", "0"],
    ["Y-slash", "A000003", "2024/03/05 10:00:00", "2024-03-05 11:00:00", "", "phone", "urgent", "", "", "", "", "", ""],
    ["Y-hour", "A000003", "2024-03-05T10", "2024-03-05 24:00:00", "2024-03-06", "web", "normal", "3", "0", "1", "t",
     "2", "12d"],
    ["Y-dup", "A000004", "2024-03-05 10:00:00", "", "", "web", "Low", "", "", "", "", "", ""],
    ["Y-dup", "A000004", "2024-03-06 10:00:00", "", "", "web", "low", "", "", "", "", "", ""],
]
BAD_MRR = [
    ["A000001", "2024/03", "10"],
    ["A000001", "2024-13", "10"],
    ["A000002", "2024-03", "1_000"],
    ["A000002", "2024-04-15", "20.5"],
]


@pytest.fixture(scope="module")
def demo_with_bad_rows(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spark_parity")
    demo = generate_demo(folder / "demo", n_accounts=300, seed=11)
    # the accounts file has segment columns after the contract's: the bad rows leave them empty
    with demo.accounts.open(encoding="utf-8") as handle:
        width = len(next(csv.reader(handle)))
    _append_rows(demo.accounts, [row + [""] * (width - len(row)) for row in BAD_ACCOUNTS])
    _append_rows(demo.interactions, BAD_INTERACTIONS)
    _append_rows(demo.mrr_history, BAD_MRR)
    # Interactions as a lake holds them, a folder of Parquet files with typed timestamps and CSAT (the typeof()
    # branches: Spark's type names are not DuckDB's), the other columns text as a CSV gives them (the bad
    # spellings above stay); a timestamp that does not parse is NULL in the file, as a lake's typed column would
    # hold it. Three files, the bad rows in the second and third, so their row numbers count through the files.
    interactions = folder / "interactions"
    interactions.mkdir()
    con = duckdb.connect()
    con.execute("set timezone = 'UTC'")
    # a table first: DuckDB would push a cast straight into the CSV reader, which then fails on a bad value
    con.execute(f"create table text_rows as select * from read_csv('{demo.interactions}', all_varchar = true)")
    # The accounts as a Parquet file of text, as a CSV gives them (their bad spellings stay), so the Spark build
    # reads them itself too and types their segment columns from what it read
    accounts = folder / "accounts.parquet"
    con.execute(f"copy (select * from read_csv('{demo.accounts}', all_varchar = true)) to '{accounts}' "
                "(format parquet)")
    n_rows = con.execute("select count(*) from text_rows").fetchone()[0]
    bounds = [0, n_rows - len(BAD_INTERACTIONS) - 2, n_rows - 2, n_rows]
    for part, (low, high) in enumerate(zip(bounds, bounds[1:])):
        con.execute(f"""
            copy (
                select * replace (
                    try_cast(created_at as timestamp) as created_at,
                    try_cast(first_response_at as timestamp) as first_response_at,
                    try_cast(resolved_at as timestamp) as resolved_at,
                    try_cast(csat as double) as csat)
                from text_rows
                where rowid >= {low} and rowid < {high}
                order by rowid
            ) to '{interactions / f"part-{part}.parquet"}' (format parquet)""")
    con.close()
    return folder, demo, accounts, interactions


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return sorted(r[0] for r in con.execute("select table_name from information_schema.tables").fetchall())


def _schema(con, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f'describe "{table}"').fetchall()]


def _rows(con, table: str) -> list[tuple]:
    return con.execute(f'select * from "{table}" order by all').fetchall()


def _same_value(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-12)
    return a == b


def _same_row(table: str, a: tuple, b: tuple) -> bool:
    if table in MODEL_STATE:  # the model's key columns; the JSON holds the fit time
        return a[:MODEL_STATE[table]] == b[:MODEL_STATE[table]]
    return all(_same_value(x, y) for x, y in zip(a, b))


def _differences(duck, spark, table: str) -> list[str]:
    problems = []
    if _schema(duck, table) != _schema(spark, table):
        problems.append(f"{table}: columns {_schema(duck, table)} vs {_schema(spark, table)}")
        return problems
    left, right = _rows(duck, table), _rows(spark, table)
    if len(left) != len(right):
        problems.append(f"{table}: {len(left)} rows on DuckDB, {len(right)} on Spark")
        extra = sorted(set(left) ^ set(right), key=str)[:4]
        problems.append(f"  first rows on one side only: {extra}")
        return problems
    for a, b in zip(left, right):
        if not _same_row(table, a, b):
            problems.append(f"{table}: row {a} vs {b}")
            if len(problems) > 3:
                break
    return problems


def test_spark_build_gives_the_duckdb_tables(demo_with_bad_rows):
    require_spark()
    folder, demo, accounts, interactions = demo_with_bad_rows
    settings = BuildSettings(as_of=demo.as_of)
    started = time.perf_counter()
    duck_result = build_database(accounts, interactions, folder / "duckdb.duckdb",
                                 mrr_history=demo.mrr_history, settings=settings)
    duck_seconds = time.perf_counter() - started
    events = []
    started = time.perf_counter()
    # Spark reads the same files itself, as URLs (as it would read s3a://), where DuckDB reads the local paths
    spark_result = build_database(accounts.as_uri(), interactions.as_uri(), folder / "spark.duckdb",
                                  mrr_history=demo.mrr_history, settings=settings, engine="spark",
                                  spark_master="local[2]", progress=events.append)
    spark_seconds = time.perf_counter() - started
    print(f"\nDuckDB build {duck_seconds:.1f} s, Spark build {spark_seconds:.1f} s")
    print("\n".join(f"  {e.stage} {e.table} {e.rows} {e.seconds:.1f} s" for e in events))

    duck = duckdb.connect(str(folder / "duckdb.duckdb"), read_only=True)
    spark = duckdb.connect(str(folder / "spark.duckdb"), read_only=True)
    try:
        assert _tables(duck) == _tables(spark)
        compared = [t for t in _tables(duck) if t not in NOT_COMPARED]
        problems = [p for table in compared for p in _differences(duck, spark, table)]
        exact = [t for t in compared if t not in MODEL_STATE]
        print(f"compared {len(compared)} tables: {len(exact)} to 1e-9, {len(MODEL_STATE)} model states by name")
        # every table the SQL makes and every model result is among the exact ones
        assert {"rejected_rows", "load_report", "account_months", "interaction_metrics", "kpi_monthly",
                "driver_effects", "factor_effects", "factor_stability"} <= set(exact)
        assert not problems, "\n".join(problems)
        # the bad rows are there to be rejected: each engine difference shows up in the rejects
        reasons = {(r[0], r[1]) for r in duck.execute(
            "select source, raw_value from rejected_rows").fetchall()}
        for value in ("2024/03/05", "2024", "2024-03-05 24:00:00", "1_000", "12d", "2024/03"):
            assert any(raw == value for _, raw in reasons), value
        # a lake row is named by its file and its row there (Y-frac: the third row of the second file)
        for con in (duck, spark):
            assert con.execute("select input_file, input_file_row_number from rejected_rows "
                               "where source = 'interactions' and raw_value = '1_000'").fetchall() == [
                (str(interactions / "part-1.parquet"), 3)]
        # the bad rows leave terms with no churn (plan missing; a missing indicator that differs from another
        # only on churn-free months): each engine leaves them out of the fit and names them the same way
        dropped = [[d for d in json.loads(con.execute(
            "select info_json from model_info where model = 'service_drivers'").fetchone()[0])["dropped_terms"]
            if d["reason"].startswith("not estimable")] for con in (duck, spark)]
        assert dropped[0] == dropped[1] and "plan=(missing)" in {d["term"] for d in dropped[0]}
    finally:
        duck.close()
        spark.close()
    assert compared_counts(spark_result.table_rows.items()) == compared_counts(duck_result.table_rows.items())
    assert spark_result.load_report == duck_result.load_report
    # Spark's tables stay as Parquet in this build's folder beside the database; the large ones are views over it
    builds = list((folder / "spark.parquet").iterdir())
    assert len(builds) == 1 and builds[0].name.startswith("build-")
    assert {"stg_accounts", "rejected_rows", "account_survival", *PARQUET_VIEWS} <= {p.name for p in builds[0].iterdir()}
    views = {}
    for name in ("duckdb", "spark"):
        with duckdb.connect(str(folder / f"{name}.duckdb"), read_only=True) as con:
            views[name] = dict(con.execute("select view_name, sql from duckdb_views() where not internal").fetchall())
    assert set(views["spark"]) - set(views["duckdb"]) == set(PARQUET_VIEWS)
    views = views["spark"]
    assert all(str(builds[0] / name) in views[name] for name in PARQUET_VIEWS)
    # the app's read-only connection (an instance of its own, attaching the file) reads them
    from dashboard.data import open_build

    from pipelines.sqlrun import query_text

    listed = {}
    for name in ("duckdb", "spark"):
        app = open_build(str(folder / f"{name}.duckdb"))
        try:
            assert app.execute("select count(*) from account_months").fetchone()[0] == duck_result.table_rows[
                "account_months"]
            listed[name] = app.execute(query_text("table_row_counts")).fetchall()  # the data page's table list
        finally:
            app.close()
    assert compared_counts(listed["spark"]) == compared_counts(listed["duckdb"])
    assert ("account_months", duck_result.table_rows["account_months"]) in listed["spark"]


def test_a_failed_spark_build_leaves_the_previous_database_and_its_parquet(demo_with_bad_rows, tmp_path):
    """No date parses on Spark, so there is no as-of date: the build fails after its first Spark stage, and the
    previous file stays as it was, and so does the Parquet folder its views read."""
    require_spark()
    from pipelines.errors import InputError

    folder = demo_with_bad_rows[0]
    db_path = tmp_path / "retention.duckdb"
    shutil.copy(folder / "spark.duckdb", db_path)  # its views read the parity build's Parquet folder
    output = folder / "spark.parquet"
    before, parquet_before = db_path.read_bytes(), sorted(output.rglob("*"))
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("account_id,signup_date,churn_date,mrr\nZ1,2024/03/05,,10\n", encoding="utf-8")
    interactions = tmp_path / "interactions.csv"
    interactions.write_text("interaction_id,account_id,created_at\nI1,Z1,2024/03/06 10:00\n", encoding="utf-8")
    for spark_output in (output, None):  # the previous build's folder, then the default one beside the database
        with pytest.raises(InputError, match="no valid dates"):
            build_database(accounts, interactions, db_path, engine="spark", spark_master="local[2]",
                           spark_output=spark_output)
        assert db_path.read_bytes() == before and sorted(output.rglob("*")) == parquet_before
        # neither the temporary database nor Spark's work or output folder of the failed build is left behind
        assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.csv", "interactions.csv", "retention.duckdb"]
    with duckdb.connect(str(db_path), read_only=True) as con:
        assert con.execute("select count(*) from account_months").fetchone()[0] > 0


def test_a_new_build_folder_replaces_all_but_the_previous_one(tmp_path):
    """Once the new database is in place it reads only its own build's folder; the previous build's stays for a
    reader still on the previous file, the older ones go."""
    from pipelines.build import remove_older_builds

    for age, name in enumerate(("build-new", "build-previous", "build-older", "build-oldest", "notes")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "part-0.parquet").write_bytes(b"PAR1")
        os.utime(tmp_path / name, (1e9 - age * 3600, 1e9 - age * 3600))
    removed = remove_older_builds(tmp_path, tmp_path / "build-new")
    assert sorted(p.name for p in removed) == ["build-older", "build-oldest"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build-new", "build-previous", "notes"]


def test_a_lake_url_spark_cannot_read_is_an_error_naming_it(tmp_path):
    """Spark reads a URL input itself; a folder that is not there, or holds no Parquet, stops the build with the
    URL in the message (the session is the parity test's, so this costs no second start)."""
    require_spark()
    from pipelines.contract import INTERACTIONS
    from pipelines.errors import InputError
    from pipelines.spark.engine import SparkTables, start_session

    tables = SparkTables(start_session("local[2]"), tmp_path / "work")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "_SUCCESS").write_text("")
    for folder in (tmp_path / "missing", tmp_path / "empty"):
        with pytest.raises(InputError, match="Spark cannot read it as Parquet") as error:
            tables.read_input(folder.as_uri(), INTERACTIONS)
        assert error.value.path == folder.as_uri()


def test_spark_options_need_the_spark_engine(capsys):
    from pipelines.cli import main

    assert main(["build", "--accounts", "a.csv", "--interactions", "i.csv", "--spark-master", "local[2]"]) == 2
    assert "--engine spark" in capsys.readouterr().err
    assert main(["build", "--accounts", "a.csv", "--interactions", "i.csv", "--spark-output", "out"]) == 2
    assert "--spark-output need --engine spark" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["build", "--accounts", "a.csv", "--interactions", "i.csv", "--engine", "spark", "--spark-conf", "x"])
    assert "KEY=VALUE" in capsys.readouterr().err


def test_the_managed_spark_example_is_spark_conf_options():
    """deploy/spark/emr.conf (docs/spark.md, A cluster) is read only by the shell line docs/spark.md gives: each of its
    lines must be a KEY=VALUE that --spark-conf takes, and it must undo the local session's loopback driver."""
    from pathlib import Path

    from pipelines.cli.build import _spark_option

    text = (Path(__file__).resolve().parents[1] / "deploy" / "spark" / "emr.conf").read_text(encoding="utf-8")
    options = dict(_spark_option(line) for line in text.splitlines() if line.strip() and not line.startswith("#"))
    assert options and all(key.startswith("spark.") for key in options)
    assert options["spark.driver.bindAddress"] == "0.0.0.0" and options["spark.driver.host"] != "127.0.0.1"
