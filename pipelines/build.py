"""Build the retention database: load the inputs, run sql/ layer by layer, audit, swap in atomically.

The build writes to a temporary file beside the target and renames it over the target only after
every audit passed, so a failed build leaves the previous database exactly as it was, and a reader
(the dashboard) keeps serving the old file until the new one is complete.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import duckdb
import numpy as np
import pandas as pd

from . import __version__
from .contract import ACCOUNTS, INTERACTIONS, ISO_TIMESTAMP_PATTERN, MRR_HISTORY, PLAIN_NUMBER_PATTERN
from .filters import cell_columns
from .load import (InputError, LoadedFile, create_empty_source_view, create_source_view, input_location, is_url, read_raw,
                   text_or_null)
from .models.coxph import ConvergenceError
from .models.drivers import DriversInputError, ServiceDrivers, store_drivers
from .models.causal_structure import CausalStructure, load as load_causal_structure
from .models.factor_effects import (FactorEffects, FactorRevenueEffects, ordering_effects, store_factor_effects,
                                    store_factor_orderings, store_factor_revenue_effects)
from .models.calibration import HoldoutCalibration, spec_of, store_calibration
from .models.levers import Levers, store_levers
from .models.risk import AccountRisk, store_risk
from .settings import (DEFAULT_DB_PATH, DEFAULT_MEMORY_LIMIT_MB, HIGH_PRIORITY_SEVERITIES, LIVE_CHANNELS, SEVERITIES,
                       WINDOW_DAYS, BuildSettings)
from .sqlrun import (SQL_DIR, TrustedSql, create_table_as, execute_template, file_fragment, identifier, insert_rows,
                     literal, quote_ident, row_count, run_file, run_query, set_memory_limit, sql_text)

MODELS_MEMORY_LIMIT_MB = 2048  # DuckDB's share while the models (numpy, pandas) run
EARLIEST_PLAUSIBLE_DATE = date(1990, 1, 1)
# What the staging SQL binds before the as-of date is known (the typing rules and the text shapes they parse)
STAGING_PARAMS = {"earliest_plausible": EARLIEST_PLAUSIBLE_DATE, "severities": list(SEVERITIES),
                  "iso_timestamp_pattern": ISO_TIMESTAMP_PATTERN, "plain_number_pattern": PLAIN_NUMBER_PATTERN}

# The layers in the order the data flows; each name is a file <layer>/<name>.sql holding one SELECT
# that becomes the table of that name.
STAGING = (
    "typed_accounts",
    "typed_interactions",
    "typed_mrr_history",
)
STAGING_CHECKED = (
    "account_rejects",
    "stg_accounts",
    "interaction_rejects",
    "stg_interactions",
    "mrr_history_rejects",
    "stg_mrr_history",
    "rejected_rows",
    "load_report",
)
METRICS = ("interaction_metrics",)
PANEL = (
    "calendar_months",
    "account_month_spans",
    "account_month_service",
    "account_month_mrr",
    "account_months",
)
MARTS = ("account_survival", "panel_measure_coverage")
# Marts the app looks up instead of reading the large tables, made in DuckDB from the tables above (DuckDB's
# UNPIVOT over the segment columns), after them, whichever engine made those.
LOOKUP_MARTS = ("km_segment_counts", "current_panel_rows", "sla_window_tickets",  # in the order they read each other
                "kpi_monthly_cells", "kpi_monthly", "cohort_retention_cells", "cohort_retention", "headline_kpis_cells")
# The segment cells the overview's sums are kept by (the combinations of the values the sidebar filters by), made
# before the lookup marts from the accounts file's own columns (slots), so on DuckDB for either engine.
CELL_TABLES = ("account_cells", "segment_cells")
# Tables built in parts of the accounts (the query filters on $part of $n_parts), one part per ROWS_PER_PART
# rows of the named input: their exact medians are aggregates DuckDB holds in memory and cannot spill. Each part
# reads every row of the input, so a part is as large as the default memory limit allows (measured in the
# README's Performance section).
PARTITIONED_TABLES = {"account_month_service": "interaction_metrics"}
ROWS_PER_PART = 16_000_000
BUILD_DIR = "00_build"  # the build's own tables: what it was given and set
LAYER_DIRS = {"staging": "10_staging", "metrics": "20_metrics", "panel": "30_panel", "marts": "40_marts"}
ENGINES = ("duckdb", "spark")
# The large tables a Spark build leaves as Parquet (its output folder), the database holding views over them; the
# smaller ones are copied in.
PARQUET_VIEWS = ("interaction_metrics", "account_months")
# What Spark reads from DuckDB: the inputs as the loader typed them and the build's own settings tables
SPARK_INPUTS = ("src_accounts", "src_interactions", "src_mrr_history", "sla_target_hours",
                "interaction_columns_available", "revenue_basis", "input_sources")

# Working tables that only feed later steps; dropped so the database holds what users read.
INTERMEDIATE_TABLES = (
    "raw_accounts",  # a view when its input is Parquet
    "raw_interactions",
    "raw_mrr_history",
    "raw_accounts_files",  # a folder or glob input's first row number of each file (load._parquet_view)
    "raw_interactions_files",
    "raw_mrr_history_files",
    "typed_accounts",
    "typed_interactions",
    "typed_mrr_history",
    "account_rejects",
    "interaction_rejects",
    "mrr_history_rejects",
    "account_month_spans",
    "account_month_service",
)
INTERMEDIATE_VIEWS = ("src_accounts", "src_interactions", "src_mrr_history")
# The staged interactions are a working table until interaction_metrics, which carries all their columns, is
# made; then a view of it (sql/00_build/stg_interactions_view.sql), so the interactions are stored once.
STAGED_AS_VIEW = "stg_interactions"

# Tables a user (and the dashboard) reads, in the order the build reports them.
OUTPUT_TABLES = (
    "stg_accounts",
    "stg_account_segments",
    "stg_interactions",
    "stg_mrr_history",
    "rejected_rows",
    "load_report",
    "interaction_metrics",
    "calendar_months",
    "account_month_mrr",
    "account_months",
    "account_survival",
    "kpi_monthly",
    "cohort_retention",
    "account_cells",
    "segment_cells",
    "kpi_monthly_cells",
    "cohort_retention_cells",
    "headline_kpis_cells",
    "panel_measure_coverage",
    "km_segment_counts",
    "sla_window_tickets",
    "current_panel_rows",
    "driver_effects",
    "account_risk",
    "model_calibration",
    "whatif_levers",
    "model_info",
    "driver_model_state",
    "factor_effects",
    "factor_stability",
    "factor_model_state",
    "factor_revenue_effects",
    "factor_orderings",
    "input_columns",
    "segment_columns",
    "sla_target_hours",
    "interaction_columns_available",
    "revenue_basis",
    "build_info",
)


class BuildError(RuntimeError):
    """The build could not finish; the previous database is untouched."""


class AuditError(BuildError):
    """An audit query returned rows: the built tables break one of their stated rules."""


@dataclass
class StageEvent:
    stage: str
    table: str
    rows: int
    seconds: float


@dataclass
class BuildResult:
    db_path: Path
    build_id: str
    as_of: date
    seconds: float
    table_rows: dict[str, int]
    load_report: list[dict]
    reject_summary: list[dict]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)




def create_table(con: duckdb.DuckDBPyConnection, layer: str, name: str, params: dict) -> int:
    """Table `name` from the one SELECT of `sql/<layer>/<name>.sql`: its row count."""
    query = file_fragment(LAYER_DIRS[layer], name)
    # A working table only feeds later steps of this build: as a temporary table it is never compressed and
    # written into the database file, which costs several times what computing it does.
    temporary = name in INTERMEDIATE_TABLES or name == STAGED_AS_VIEW
    if name in PARTITIONED_TABLES:
        n_parts = max(1, math.ceil(row_count(con, PARTITIONED_TABLES[name]) / ROWS_PER_PART))
        for part in range(n_parts):
            create_table_as(con, name, query, {**params, "n_parts": n_parts, "part": part}, append=part > 0,
                            temporary=temporary)
    else:
        create_table_as(con, name, query, params, temporary=temporary)
    return row_count(con, name)


class _Progress:
    def __init__(self, callback: Callable[[StageEvent], None] | None):
        self.callback = callback

    def run(self, stage: str, table: str, work: Callable[[], int]) -> int:
        started = time.perf_counter()
        rows = work()
        if self.callback:
            self.callback(StageEvent(stage, table, rows, time.perf_counter() - started))
        return rows


def build_database(
    accounts: Path | str,
    interactions: Path | str,
    db_path: Path | str = DEFAULT_DB_PATH,
    mrr_history: Path | str | None = None,
    settings: BuildSettings | None = None,
    progress: Callable[[StageEvent], None] | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
    spark_conf: dict[str, str] | None = None,
    spark_output: Path | str | None = None,
) -> BuildResult:
    """Build `db_path` from the input files; on any failure the previous file is left untouched.

    With engine "spark" the staging, metrics, panel and marts SQL runs on a Spark session (`spark_master`, default
    local[*], or a Spark Connect sc:// URL; `spark_conf` adds session options); its tables come back into the
    DuckDB file, and the models, audits and build_info run on DuckDB as in the default engine. Spark's tables stay
    as Parquet in a folder of this build under `spark_output` (default: `<database name>.parquet` beside it), and
    the database reads the large ones (PARQUET_VIEWS) as views over it; once the new file is in place the folders
    of builds before the previous one are removed (see remove_older_builds), and a failed build removes its own.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if spark_output is not None and engine != "spark":
        raise ValueError("spark_output is the Spark engine's output folder: give engine='spark'")
    settings = settings or BuildSettings()
    structure = load_causal_structure(settings.causal_structure)  # a bad file fails before any work
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    build_id = uuid.uuid4().hex
    temp_path = db_path.with_name(f".{db_path.name}.building-{build_id[:8]}")
    started = time.perf_counter()
    con = duckdb.connect(str(temp_path))
    work = tempfile.TemporaryDirectory(prefix=f".{db_path.name}.spark-", dir=db_path.parent) if engine == "spark" else None
    # absolute: the database's views name these files, and the app opens the database from anywhere
    output_root = Path(spark_output or db_path.with_name(f"{db_path.stem}.parquet")).resolve() if work else None
    output_dir = output_root / f"build-{build_id}" if output_root else None
    root_existed = output_root is not None and output_root.exists()
    try:
        spark = _spark_tables(Path(work.name), output_dir, spark_master, spark_conf) if work else None
        result = _build(con, _location(accounts), _location(interactions),
                        _location(mrr_history) if mrr_history else None, settings, _Progress(progress), temp_path,
                        build_id, structure, spark)
        con.checkpoint()
        con.close()
        os.replace(temp_path, db_path)
    except BaseException:
        con.close()
        for leftover in (temp_path, temp_path.with_name(temp_path.name + ".wal")):
            leftover.unlink(missing_ok=True)
        if output_dir is not None:  # the previous build's folder, which the previous file reads, stays
            shutil.rmtree(output_dir, ignore_errors=True)
            if not root_existed and output_root.exists() and not any(output_root.iterdir()):
                output_root.rmdir()
        raise
    finally:
        if work:
            work.cleanup()
    if output_dir is not None:
        remove_older_builds(output_root, output_dir)
        result.notes.append(f"Spark's tables are Parquet under {output_dir}; {' and '.join(PARQUET_VIEWS)} are views "
                            "over it in the database, so keep that folder with the database file")
    result.db_path = db_path
    result.seconds = time.perf_counter() - started
    return result


def remove_older_builds(output_root: Path, current: Path) -> list[Path]:
    """Remove the build folders under `output_root` but `current` and the newest other one: the folders removed.

    The database now reads only `current`, but the app keeps the file it opened before the swap for a page still
    rendering on it (dashboard.data.open_build), and that file's views read the previous build's folder."""
    others = sorted((p for p in output_root.glob("build-*") if p.is_dir() and p != current),
                    key=lambda p: p.stat().st_mtime_ns)
    older = others[:-1]
    for folder in older:
        shutil.rmtree(folder, ignore_errors=True)
    return older


def _location(path: Path | str) -> Path | str:
    """A Path, or the text of a URL (which only the Spark engine reads, and a Path would fold)."""
    return path if isinstance(path, Path) else input_location(str(path))


def _build(
    con: duckdb.DuckDBPyConnection,
    accounts_path: Path | str,
    interactions_path: Path | str,
    mrr_history_path: Path | str | None,
    settings: BuildSettings,
    progress: _Progress,
    temp_path: Path,
    build_id: str,
    structure: CausalStructure,
    spark=None,
) -> BuildResult:
    build_started = time.perf_counter()
    run_file(con, "queries", "set_utc_time_zone")
    # DuckDB's default (80% of RAM) leaves nothing for the rest of the process at a million accounts;
    # DuckDB spills what does not fit to its temp folder beside the database (see settings)
    memory_limit_mb = settings.memory_limit_mb or min(DEFAULT_MEMORY_LIMIT_MB, _half_of_ram_mb())
    set_memory_limit(con, memory_limit_mb)

    loaded, warnings = _load_inputs(con, accounts_path, interactions_path, mrr_history_path, progress, spark)

    # row numbers are fixed in the raw tables now; later stages need no order, which saves memory
    run_file(con, "queries", "set_unordered_inserts")
    params: dict = dict(STAGING_PARAMS)
    if spark is not None:
        as_of = _spark_layers(con, spark, params, settings, loaded, mrr_history_path, accounts_path, progress)
        return _finish(con, as_of, settings, structure, loaded, warnings, progress, build_id, build_started,
                       temp_path, memory_limit_mb)
    for name in STAGING:
        progress.run("staging", name, lambda name=name: create_table(con, "staging", name, params))

    as_of = settings.as_of or run_query(con, sql_text("queries", "latest_input_date"), params).fetchone()[0]
    if as_of is None:
        raise InputError(accounts_path, "no valid dates found in any input, so there is no as-of date; "
                         "check signup_date values or pass --as-of")
    params.update(
        as_of=as_of,
        window_days=WINDOW_DAYS,
        repeat_contact_days=settings.repeat_contact_days,
        high_priority_severities=list(HIGH_PRIORITY_SEVERITIES),
        live_channels=list(LIVE_CHANNELS),
    )

    _create_settings_tables(con, settings, loaded, mrr_history_path)
    for name in STAGING_CHECKED:
        progress.run("staging", name, lambda name=name: create_table(con, "staging", name, params))
    _require_accounts(con, accounts_path, loaded["accounts"])
    progress.run("staging", "stg_account_segments", lambda: _create_segments(con, loaded["accounts"]))

    run_file(con, BUILD_DIR, "analysis_accounts")
    for layer, names in (("metrics", METRICS), ("panel", PANEL), ("marts", MARTS)):
        for name in names:
            progress.run(layer, name, lambda layer=layer, name=name: create_table(con, layer, name, params))
        if layer == "metrics":
            _view_staged_interactions(con)
    return _finish(con, as_of, settings, structure, loaded, warnings, progress, build_id, build_started, temp_path,
                   memory_limit_mb)


def _finish(con, as_of: date, settings: BuildSettings, structure: CausalStructure, loaded: dict[str, LoadedFile],
            warnings: list[str], progress: _Progress, build_id: str, build_started: float, temp_path: Path,
            memory_limit_mb: int) -> BuildResult:
    """The lookup marts, models, audits, clean-up and build_info, on the DuckDB tables of either engine."""
    for name in CELL_TABLES:
        progress.run("marts", name, lambda name=name: _create_cells(con, name))
    run_file(con, BUILD_DIR, "analysis_cells")
    for name in LOOKUP_MARTS:
        progress.run("marts", name, lambda name=name: create_table(con, "marts", name,
                                                                   {"as_of": as_of, "window_days": WINDOW_DAYS}))

    notes: list[str] = []
    # The model fits work in Python memory on what they read; the tables are on disk by now, so DuckDB's
    # cache of them can shrink to make room.
    con.checkpoint()
    set_memory_limit(con, min(memory_limit_mb, MODELS_MEMORY_LIMIT_MB))
    progress.run("models", "driver_effects", lambda: _fit_models(con, notes, as_of, settings, structure))
    progress.run("audits", "audits", lambda: run_audits(con))

    _drop_intermediates(con)

    _create_input_columns(con, loaded)
    table_rows = {t: row_count(con, t) for t in OUTPUT_TABLES if t != "build_info"}
    table_rows["build_info"] = 1
    _create_build_info(con, build_id, as_of, settings, loaded, table_rows, warnings,
                       time.perf_counter() - build_started)

    load_report, reject_summary = _reports(con)
    return BuildResult(db_path=temp_path, build_id=build_id, as_of=as_of, seconds=0.0, table_rows=table_rows,
                       load_report=load_report, reject_summary=reject_summary, warnings=warnings, notes=notes)


def _spark_tables(work_dir: Path, output_dir: Path, master: str | None, conf: dict[str, str] | None):
    from .spark import SparkUnavailableError

    try:
        from .spark.engine import DEFAULT_MASTER, SparkTables, start_session
    except ImportError as exc:  # sqlglot (the transform) or pyspark is not installed
        raise SparkUnavailableError(f"{exc.name} is not installed: pip install -e '.[spark]'") from exc

    return SparkTables(start_session(master or DEFAULT_MASTER, conf), work_dir, output_dir, frozenset(OUTPUT_TABLES))


def _spark_layers(con: duckdb.DuckDBPyConnection, spark, params: dict, settings: BuildSettings,
                  loaded: dict[str, LoadedFile], mrr_history_path: Path | None, accounts_path: Path,
                  progress: _Progress) -> date:
    """Staging, metrics, panel and marts on Spark, their tables copied into `con`: the as-of date.

    The inputs go to Spark as the loader typed them (src_<source>, Parquet); stg_account_segments, whose columns
    are the accounts file's own, is made on DuckDB between staging and the metrics and handed over the same way.
    """
    _create_settings_tables(con, settings, loaded, mrr_history_path)
    read_by_spark = {f.source for f in loaded.values() if is_url(f.path)}
    for name in SPARK_INPUTS:
        if name.removeprefix("src_") not in read_by_spark:
            _to_spark(con, spark, name)
    for name in STAGING:
        progress.run("staging", name, lambda name=name: spark.create_table(LAYER_DIRS["staging"], name, params))
    as_of = settings.as_of or spark.query("queries", "latest_input_date", params)[0][0]
    if as_of is None:
        raise InputError(accounts_path, "no valid dates found in any input, so there is no as-of date; "
                         "check signup_date values or pass --as-of")
    params.update(as_of=as_of, window_days=WINDOW_DAYS, repeat_contact_days=settings.repeat_contact_days,
                  high_priority_severities=list(HIGH_PRIORITY_SEVERITIES), live_channels=list(LIVE_CHANNELS),
                  n_parts=1, part=0)
    for name in STAGING_CHECKED:
        progress.run("staging", name, lambda name=name: spark.create_table(LAYER_DIRS["staging"], name, params))
    _from_spark(con, spark, [name for name in STAGING_CHECKED if name != STAGED_AS_VIEW])
    _require_accounts(con, accounts_path, loaded["accounts"])
    if "accounts" in read_by_spark:  # the segment columns are typed on DuckDB, from the accounts as read
        _from_spark(con, spark, ["raw_accounts"])
    progress.run("staging", "stg_account_segments", lambda: _create_segments(con, loaded["accounts"]))
    _to_spark(con, spark, "stg_account_segments")

    spark.create_view(BUILD_DIR, "analysis_accounts")
    for layer, names in (("metrics", METRICS), ("panel", PANEL), ("marts", MARTS)):
        for name in names:
            progress.run(layer, name, lambda layer=layer, name=name: spark.create_table(LAYER_DIRS[layer], name, params))
    _from_spark(con, spark, METRICS + PANEL + MARTS)
    _view_staged_interactions(con)
    run_file(con, BUILD_DIR, "analysis_accounts")
    return as_of


def _view_staged_interactions(con: duckdb.DuckDBPyConnection) -> None:
    execute_template(con, "drop_if_exists", object=TrustedSql("table"), target=identifier(STAGED_AS_VIEW))
    run_file(con, BUILD_DIR, "stg_interactions_view")


def _to_spark(con: duckdb.DuckDBPyConnection, spark, name: str) -> None:
    """DuckDB's table or view `name` as Parquet (a folder of one file, as Spark writes a table), registered on Spark
    under the same name."""
    spark.path(name).mkdir(parents=True, exist_ok=True)
    execute_template(con, "copy_to_parquet", {"path": str(spark.path(name) / "part-0.parquet")},
                     query=file_fragment("queries", "all_rows", table=identifier(name)))
    spark.register(name)


def _from_spark(con: duckdb.DuckDBPyConnection, spark, names: Iterable[str]) -> None:
    """Spark's tables `names` (its Parquet files) as DuckDB tables of the same names; a large one (PARQUET_VIEWS)
    as a view over its files instead of a copy."""
    for name in names:
        files = str(spark.path(name) / "*.parquet")
        if name in PARQUET_VIEWS:
            execute_template(con, "parquet_view", view=identifier(name), path=literal(files))
        else:
            create_table_as(con, name, file_fragment("queries", "parquet_rows"), {"path": files})


def _load_inputs(con: duckdb.DuckDBPyConnection, accounts_path: Path | str, interactions_path: Path | str,
                 mrr_history_path: Path | str | None, progress: _Progress,
                 spark=None) -> tuple[dict[str, LoadedFile], list[str]]:
    """Read each input into its raw table (an absent optional one becomes an empty view): the files read and the
    warnings about them. With the Spark engine, a URL input (s3a://, hdfs://, file://) is read by Spark itself
    into its raw and src tables there; DuckDB never opens it."""
    loaded: dict[str, LoadedFile] = {}
    inputs = [(ACCOUNTS, accounts_path), (INTERACTIONS, interactions_path), (MRR_HISTORY, mrr_history_path)]
    for source, path in inputs:
        if path is None:
            create_empty_source_view(con, source)
            continue

        def load(source=source, path=path) -> int:
            if spark is not None and is_url(path):
                loaded[source.name] = spark.read_input(path, source)
            else:
                loaded[source.name] = read_raw(con, path, source)
                create_source_view(con, loaded[source.name], source)
            return loaded[source.name].rows

        progress.run("load", source.name, load)
    warnings = [w for f in loaded.values() for w in f.warnings]
    for f in loaded.values():
        if f.ignored:
            warnings.append(f"{f.path}: columns not in the {f.source} contract were ignored: {f.ignored}")

    run_file(con, BUILD_DIR, "input_sources")
    insert_rows(con, "input_sources", pd.DataFrame(
        [(f.source, path, first_row, n_rows) for f in loaded.values() for path, first_row, n_rows in f.files],
        columns=["source", "path", "first_row", "n_rows"]))
    return loaded, warnings


def _reports(con: duckdb.DuckDBPyConnection) -> tuple[list[dict], list[dict]]:
    """The load report and the most common reject reasons, as the CLI prints them."""
    load_report = run_file(con, "queries", "load_report").df().to_dict("records")
    reject_summary = run_file(con, "queries", "reject_summary").df().to_dict("records")
    return load_report, reject_summary


def _drop_intermediates(con: duckdb.DuckDBPyConnection) -> None:
    views = {row[0] for row in run_file(con, "queries", "user_views").fetchall()}
    for name in INTERMEDIATE_TABLES + INTERMEDIATE_VIEWS:
        # a Parquet input's raw_<source> is a view over the file (load._parquet_view), a CSV's a table
        execute_template(con, "drop_if_exists", object=TrustedSql("view" if name in views else "table"),
                         target=identifier(name))


def _half_of_ram_mb() -> int:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4096
    return max(1024, total // 2 // (1 << 20))


def _fit_models(con, notes: list[str], as_of: date, settings: BuildSettings, structure: CausalStructure) -> int:
    """Fit the default models into the new database, so the app reads results and never refits."""
    if not settings.fit_models:
        notes.append("models not fitted: the build was asked for the data alone")
        return _no_models(con, "the build was asked for the data alone (retention build --no-models)", structure)
    try:
        drivers = ServiceDrivers(max_accounts=settings.drivers_sample).fit(con)
    except (DriversInputError, ConvergenceError, ValueError) as exc:
        notes.append(f"drivers model not fitted: {exc}")
        return _no_models(con, str(exc), structure)
    stored = store_drivers(con, drivers)
    # each model the pages predict with is checked on a time split: the risk list's and every what-if's
    specs = [spec_of("risk", drivers)]
    factor_effects = None
    try:
        factor_effects = FactorEffects(structure=structure).fit(con)
        store_factor_effects(con, factor_effects)
        specs += [spec_of(factor, model) for factor, model in factor_effects.models_.items()]
    except (DriversInputError, ConvergenceError, ValueError) as exc:
        notes.append(f"per-factor models not fitted: {exc}")
        store_factor_effects(con, None, error=str(exc), structure=structure)
    try:
        store_factor_orderings(con, None if factor_effects is None else ordering_effects(con, factor_effects))
    except (DriversInputError, ConvergenceError, ValueError) as exc:
        notes.append(f"the effects under the other plausible orderings not estimated: {exc}")
        store_factor_orderings(con, None)
    try:
        store_levers(con, Levers().fit(con))  # from the outcome models just stored; none stored, no lever
    except ValueError as exc:  # e.g. no active account to run a lever on
        notes.append(f"levers not estimated: {exc}")
        store_levers(con, None, error=str(exc))
    try:
        store_factor_revenue_effects(con, FactorRevenueEffects(structure=structure).fit(con))
    except (DriversInputError, ValueError, np.linalg.LinAlgError) as exc:
        notes.append(f"per-factor revenue effects not estimated: {exc}")
        store_factor_revenue_effects(con, None)
    try:
        store_risk(con, AccountRisk().fit(con, drivers=drivers, as_of=as_of))
    except (ValueError, ConvergenceError) as exc:
        notes.append(f"risk scores not made: {exc}")
        store_risk(con, None, error=str(exc))
    store_calibration(con, HoldoutCalibration(specs).fit(con, as_of))
    return stored


def _no_models(con, reason: str, structure: CausalStructure) -> int:
    """Every model table, empty, with why in model_info: the pages say it instead of failing."""
    store_risk(con, None, error=f"no drivers model: {reason}")
    store_calibration(con, None, error=f"no drivers model: {reason}")
    store_levers(con, None, error=f"no drivers model: {reason}")
    store_factor_effects(con, None, error=reason, structure=structure)
    store_factor_orderings(con, None)
    store_factor_revenue_effects(con, None)
    return store_drivers(con, None, error=reason)


def _create_settings_tables(con, settings: BuildSettings, loaded: dict[str, LoadedFile], mrr_history_path) -> None:
    run_file(con, BUILD_DIR, "sla_target_hours")
    insert_rows(con, "sla_target_hours", pd.DataFrame({"severity": list(settings.sla_hours),
                                                       "target_hours": [float(v) for v in settings.sla_hours.values()]}))

    present = set(loaded["interactions"].mapped) if "interactions" in loaded else set()
    has = {name: name in present for name in INTERACTIONS.column_names}
    # "bad" needs at least one way to see it: a timed, graded first response, or a resolution with its grades
    can_detect_bad = (has["first_response_at"] and has["severity"]) or (
        has["resolved_at"] and (has["reopens"] or has["csat"] or has["handoffs"])
    )
    run_file(con, BUILD_DIR, "interaction_columns_available")
    insert_rows(con, "interaction_columns_available",
                pd.DataFrame([{**{f"has_{name}": has[name] for name in has}, "can_detect_bad": can_detect_bad}]))

    run_file(con, BUILD_DIR, "revenue_basis")
    insert_rows(con, "revenue_basis",
                pd.DataFrame({"revenue_basis": ["mrr_history" if mrr_history_path is not None else "flat_mrr"]}))


def _require_accounts(con, accounts_path: Path | str, loaded: LoadedFile) -> None:
    if row_count(con, "stg_accounts"):
        return
    reasons = run_file(con, "queries", "account_reject_examples").fetchall()

    def where(row: int, file: str, file_row: int) -> str:  # a row of one of several files: its file and row there
        return f"row {row}" if len(loaded.files) == 1 else f"{file}, row {file_row}"

    detail = "; ".join(f"{where(r, file, file_row)}, column {c!r}: {why}" for r, c, why, file, file_row in reasons)
    raise InputError(accounts_path, f"no usable accounts: every row was rejected ({detail})")


def _create_segments(con, accounts_file: LoadedFile) -> int:
    """stg_account_segments: account_id plus each extra accounts column, numeric if every value is a number."""
    segments = accounts_file.segments
    kinds: dict[str, str] = {}
    for name, header in segments.items():
        non_empty, numeric = execute_template(con, "segment_value_kinds", value=_clean(header)).fetchall()[0]
        kinds[name] = "numeric" if non_empty > 0 and numeric == non_empty else "categorical"
    values = "".join(
        f", {f'try_cast({_clean(header).text} as double)' if kinds[name] == 'numeric' else _clean(header).text}"
        f" as {quote_ident(name)}" for name, header in segments.items())
    query = file_fragment(LAYER_DIRS["staging"], "stg_account_segments", segment_values=TrustedSql(values))
    create_table_as(con, "stg_account_segments", query, {})
    run_file(con, BUILD_DIR, "segment_columns")
    insert_rows(con, "segment_columns", pd.DataFrame(
        [{"column_name": name, "source_header": header, "kind": kinds[name],
          "n_levels": execute_template(con, "distinct_values_count", table=identifier("stg_account_segments"),
                                       column=identifier(name)).fetchall()[0][0]}
         for name, header in segments.items()],
        columns=["column_name", "source_header", "kind", "n_levels"]))
    return row_count(con, "stg_account_segments")


def _create_cells(con, name: str) -> int:
    """account_cells or segment_cells, over the columns the app's sidebar filters by (filters.cell_columns)."""
    columns = [quote_ident(c) for c in cell_columns(con)]
    slot = {"account_cells": {"cell_columns": TrustedSql(", ".join(columns) or "null")},
            "segment_cells": {"cell_values": TrustedSql("".join(f", s.{c}" for c in columns))}}[name]
    create_table_as(con, name, file_fragment(LAYER_DIRS["marts"], name, **slot), {})
    return row_count(con, name)


def _clean(header: str) -> TrustedSql:
    """An accounts file column's cleaned text (NULL for "no value"), read from raw_accounts as r."""
    return TrustedSql(text_or_null(f"r.{quote_ident(header)}"))



def _create_input_columns(con, loaded: dict[str, LoadedFile]) -> None:
    rows = []
    for source in (ACCOUNTS, INTERACTIONS, MRR_HISTORY):
        file = loaded.get(source.name)
        for column in source.columns:
            header = file.mapped.get(column.name) if file else None
            rows.append([source.name, column.name, header, "contract", column.required, header is not None])
        if file:
            for name, header in file.segments.items():
                rows.append([source.name, name, header, "segment", False, True])
            for header in file.ignored:
                rows.append([source.name, None, header, "ignored", False, True])
    run_file(con, BUILD_DIR, "input_columns")
    insert_rows(con, "input_columns", pd.DataFrame(
        rows, columns=["source", "column_name", "source_header", "role", "is_required", "is_available"]))


def _create_build_info(con, build_id, as_of, settings, loaded, table_rows, warnings, seconds) -> None:
    inputs = [
        {
            "source": f.source,
            "path": f.path if is_url(f.path) else str(f.path.resolve()),
            "format": f.file_format,
            "size_bytes": f.size_bytes,
            "sha256": f.sha256,
            "rows": f.rows,
            "encoding": f.encoding,
            "delimiter": f.delimiter,
            **({"files": [path for path, _, _ in f.files]} if len(f.files) > 1 else {}),
        }
        for f in loaded.values()
    ]
    run_file(con, BUILD_DIR, "build_info")
    run_file(con, "queries", "build_info_insert", {
        "build_id": build_id,
        "as_of_date": as_of,
        "built_at": datetime.now(timezone.utc).replace(tzinfo=None),
        "tool_version": __version__,
        "duckdb_version": duckdb.__version__,
        "settings_json": json.dumps({**asdict(settings), "as_of": str(as_of)}),
        "inputs_json": json.dumps(inputs),
        "row_counts_json": json.dumps(table_rows),
        "warnings_json": json.dumps(warnings),
        "build_seconds": seconds,
        "import_info_json": json.dumps(_import_info(loaded)),
    })
    execute_template(con, "drop_if_exists", object=TrustedSql("table"), target=identifier("input_sources"))


def _import_info(loaded: dict[str, LoadedFile]) -> dict:
    """What `retention import` recorded beside the inputs (hours basis, CSAT scale, time zone ...), if any."""
    found = {}
    for file in loaded.values():
        if is_url(file.path):  # a lake table has no `retention import` beside it
            continue
        sidecar = file.path.parent / "import_info.json"
        if sidecar.exists() and str(sidecar) not in found:
            try:
                found[str(sidecar)] = json.loads(sidecar.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                found[str(sidecar)] = {"error": "import_info.json could not be read"}
    return found


def audit_names() -> list[str]:
    return sorted(p.stem for p in (SQL_DIR / "50_audits").glob("*.sql"))


def run_audits(con: duckdb.DuckDBPyConnection, names: Iterable[str] | None = None) -> int:
    """Run every audit; raise AuditError with the offending rows of each one that failed."""
    failures = []
    for name in names or audit_names():
        relation = con.execute(sql_text("50_audits", name))
        columns = [d[0] for d in relation.description]
        rows = relation.fetchmany(6)
        if rows:
            shown = "\n".join("    " + ", ".join(f"{c}={v!r}" for c, v in zip(columns, row)) for row in rows[:5])
            failures.append(f"audit {name} failed; first offending rows:\n{shown}")
    if failures:
        raise AuditError("\n".join(failures))
    return len(names or audit_names())
