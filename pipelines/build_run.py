"""Running the plan: load the inputs, make every step of the plan in its order on its engine, audit, fit the
models, record the build. One loop serves both engines: a step runs on Spark when the build is on Spark and its
header lists spark, else on DuckDB, and the tables it reads are moved to its engine first (pipelines/spark/
handover.py), so a Spark build moves only what a step on the other engine reads and what the database keeps."""

from __future__ import annotations

import math
import os
import sys
import time
from functools import partial
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from .build_audits import run_audits
from .build_fill import USABLE_ACCOUNTS_QUERY, Filling, fill_table, require_accounts, slot_values
from .build_info import create_build_info, create_input_columns, create_refresh_basis, reports
from .build_models import fit_models
from .build_refresh import Refresh, working_tables_read
from .build_result import BuildResult, Progress
from .churn_reasons import ChurnReasons
from .contract import ACCOUNTS, INTERACTIONS, ISO_TIMESTAMP_PATTERN, MRR_HISTORY, PLAIN_NUMBER_PATTERN
from .errors import InputError
from .load import create_empty_source_view, create_source_view, is_url, read_raw
from .models.causal_structure import CausalStructure
from .plan import AS_OF_QUERY, Plan, Step, input_tables, query_reads, read_plan
from .settings import (DEFAULT_MEMORY_LIMIT_MB, HIGH_PRIORITY_SEVERITIES, LIVE_CHANNELS, ROWS_PER_PART, SEVERITIES,
                       WINDOW_DAYS, BuildSettings)
from .spark.handover import SparkBuild
from .sqlrun import (TrustedSql, create_table_as, execute_template, file_fragment, identifier, insert_rows,
                     row_count, run_file, run_query, set_memory_limit, sql_text)

EARLIEST_PLAUSIBLE_DATE = date(1990, 1, 1)


def parameters(settings: BuildSettings) -> dict:
    """The values the plan's SQL binds, but the as-of date (known once the inputs are typed)."""
    return {"earliest_plausible": EARLIEST_PLAUSIBLE_DATE, "severities": list(SEVERITIES),
            "iso_timestamp_pattern": ISO_TIMESTAMP_PATTERN, "plain_number_pattern": PLAIN_NUMBER_PATTERN,
            "window_days": WINDOW_DAYS, "repeat_contact_days": settings.repeat_contact_days,
            "high_priority_severities": list(HIGH_PRIORITY_SEVERITIES), "live_channels": list(LIVE_CHANNELS)}


def create_table(con: duckdb.DuckDBPyConnection, step: Step, params: dict, filling: Filling | None = None) -> int:
    """Step `step`'s table on DuckDB from the one SELECT of its file (its slots filled): its row count."""
    slots = slot_values(filling, step.slots) if filling is not None and step.slots else {}
    query = file_fragment(step.layer_dir, step.file, **slots)
    # A working table only feeds later steps of this build: as a temporary table it is never compressed and
    # written into the database file, which costs several times what computing it does.
    temporary = step.kind == "temporary"
    if step.parts:
        n_parts = max(1, math.ceil(row_count(con, step.parts) / ROWS_PER_PART))
        for part in range(n_parts):
            create_table_as(con, step.name, query, {**params, "n_parts": n_parts, "part": part}, append=part > 0,
                            temporary=temporary)
    else:
        create_table_as(con, step.name, query, params, temporary=temporary)
    return row_count(con, step.name)


def create_view(con: duckdb.DuckDBPyConnection, step: Step) -> None:
    """Step `step`'s view on DuckDB; one that replaces a working table drops it first (a view it replaces, its
    CREATE OR REPLACE replaces)."""
    if step.replaces and step.replaces not in {row[0] for row in run_file(con, "queries", "user_views").fetchall()}:
        execute_template(con, "drop_if_exists", object=TrustedSql("table"), target=identifier(step.replaces))
    run_file(con, step.layer_dir, step.file)


class PlanRun:
    """One build's run of the plan on a DuckDB connection (and a Spark session, for a Spark build): where each table
    is and the parameters bound so far."""

    def __init__(self, con: duckdb.DuckDBPyConnection, plan: Plan, settings: BuildSettings, progress: Progress,
                 accounts_path: Path | str, churn_reasons: ChurnReasons, spark: SparkBuild | None,
                 refresh: Refresh | None = None):
        self.con = con
        self.refresh = refresh
        self.plan = plan
        self.settings = settings
        self.progress = progress
        self.accounts_path = accounts_path
        self.spark = spark
        self.build_engine = "spark" if spark is not None else "duckdb"
        self.params = parameters(settings)
        self.filling = Filling(con, sla_hours=dict(settings.sla_hours), churn_reasons=churn_reasons)
        self.where: dict[str, set[str]] = {}  # the engines holding each table made so far
        self.done = plan.working_tables_done(working_tables_read(plan) if refresh is not None else None)
        # once the accounts are staged and the rejects say why rows were dropped, a build without a usable
        # account stops, naming the first rejected rows
        self.accounts_check: tuple[str, ...] | None = ("stg_accounts", *query_reads(USABLE_ACCOUNTS_QUERY))

    # -- the inputs --------------------------------------------------------------------------------

    def load(self, paths: dict[str, Path | str | None]) -> list[str]:
        """Read each input into its raw table (an absent optional one becomes an empty view): the warnings about
        them. On a Spark build a URL input (s3a://, hdfs://, file://) is read by Spark itself into its raw and src
        tables there; DuckDB never opens it."""
        loaded = self.filling.loaded
        for source in (ACCOUNTS, INTERACTIONS, MRR_HISTORY):
            path = paths[source.name]
            if path is None:
                create_empty_source_view(self.con, source)
                self.where[f"src_{source.name}"] = {"duckdb"}
                continue
            engine = "spark" if self.spark is not None and is_url(path) else "duckdb"
            for name in (f"raw_{source.name}", f"src_{source.name}"):
                self.where[name] = {engine}

            def read(source=source, path=path) -> int:
                if engine == "spark":
                    assert self.spark is not None and isinstance(path, str)
                    loaded[source.name] = self.spark.read_input(path, source)
                else:
                    loaded[source.name] = read_raw(self.con, path, source)
                    create_source_view(self.con, loaded[source.name], source)
                return loaded[source.name].rows

            self.progress.run("load", source.name, read)
        self.filling.has_mrr_history = paths[MRR_HISTORY.name] is not None
        warnings = [w for f in loaded.values() for w in f.warnings]
        for f in loaded.values():
            if f.ignored:
                warnings.append(f"{f.path}: columns not in the {f.source} contract were ignored: {f.ignored}")
        for step in self.plan.made_by("load"):
            run_file(self.con, step.layer_dir, step.file)
            insert_rows(self.con, step.name, pd.DataFrame(
                [(f.source, path, first_row, n_rows) for f in loaded.values() for path, first_row, n_rows in f.files],
                columns=["source", "path", "first_row", "n_rows"]))
            self.where[step.name] = {"duckdb"}
        return warnings

    # -- the loop ----------------------------------------------------------------------------------

    def run(self) -> date:
        """Every step of the plan's loop, in order: the as-of date."""
        for position, step in enumerate(self.plan.loop):
            engine = step.engine(self.build_engine)
            if "as_of" in step.params and "as_of" not in self.params:
                self.params["as_of"] = self._as_of()
            moment = self.refresh.moment(step) if self.refresh is not None else None
            if moment is not None:
                assert self.refresh is not None
                self.progress.run("refresh", moment, partial(self.refresh.run, moment, self.params, self._remake))
            self.ensure(step.reads, engine)
            if step.parts:
                self.ensure([step.parts], engine)
            if step.stage is not None:
                self.progress.run(step.stage, step.name, partial(self._make, step, engine))
            else:
                self._make(step, engine)
            self._check_accounts()
            self._drop_done(position)
        if "as_of" not in self.params:  # no step bound it; the models and build_info still need it
            self.params["as_of"] = self._as_of()
        if self.refresh is not None:
            self.refresh.finish()
        # whatever the database keeps, from whichever engine made it
        self.ensure([s.name for s in self.plan.loop if s.kind != "temporary"], "duckdb")
        return self.params["as_of"]

    def _make(self, step: Step, engine: str) -> int:
        rows = None
        if engine == "spark":
            assert self.spark is not None
            rows = self.spark.make(step, self.params)
        elif step.made_by is not None:
            fill_table(self.filling, step.made_by, step.layer_dir, step.name)
        elif step.is_query:
            rows = create_table(self.con, step, self.params, self.filling)
        else:
            create_view(self.con, step)
        self.where[step.name] = {engine}
        return rows if rows is not None else 0

    def _drop_done(self, position: int) -> None:
        """Drop from DuckDB the working tables no later step reads (a Spark build's stay in its work folder)."""
        for name in self.done.get(position, ()):
            if "duckdb" in self.where.get(name, ()):
                execute_template(self.con, "drop_if_exists", object=TrustedSql("table"), target=identifier(name))
                self.where[name].discard("duckdb")

    def _remake(self, step: Step) -> int:
        """Make a step's table again (a refresh's load report, once the rows it counts are merged)."""
        return self.progress.run(step.stage or "staging", step.name, partial(self._make, step, "duckdb"))

    def _as_of(self) -> date:
        """The as-of date: the settings', or the latest date in the inputs (AS_OF_QUERY, where its tables are)."""
        if self.settings.as_of:
            return self.settings.as_of
        reads = query_reads(AS_OF_QUERY)
        if self.spark is not None and all("spark" in self.where.get(name, ()) for name in reads):
            as_of = self.spark.query("queries", AS_OF_QUERY, self.params)[0][0]
        else:
            self.ensure(reads, "duckdb")
            as_of = run_query(self.con, sql_text("queries", AS_OF_QUERY), self.params).fetchall()[0][0]
        if as_of is None:
            raise InputError(self.accounts_path, "no valid dates found in any input, so there is no as-of date; "
                             "check signup_date values or pass --as-of")
        return as_of

    def _check_accounts(self) -> None:
        """Once the tables it reads are made: InputError when no account was staged."""
        if self.accounts_check is not None and all(table in self.where for table in self.accounts_check):
            self.ensure(self.accounts_check, "duckdb")
            self.accounts_check = None
            require_accounts(self.con, self.accounts_path, self.filling.loaded["accounts"])

    def ensure(self, names, engine: str) -> None:
        """Make each table of `names` available on `engine`, moving it from the other one where it was made."""
        for name in names:
            held = self.where.get(name)
            if held is None or engine in held:
                continue
            assert self.spark is not None  # only a Spark build holds a table on one engine and not the other
            if engine == "spark":
                self.spark.send(name)
            else:
                step = next((s for s in self.plan.loop if s.name == name and s.made_by is None), None)
                if step is not None and step.kind == "view":
                    self.ensure(step.reads, "duckdb")  # the same view, on DuckDB's copies of what it reads
                    create_view(self.con, step)
                else:
                    self.spark.fetch(name, temporary=step is not None and step.kind == "temporary")
            held.add(engine)


def run_build(con: duckdb.DuckDBPyConnection, accounts: Path | str, interactions: Path | str,
              mrr_history: Path | str | None, settings: BuildSettings, progress: Progress, temp_path: Path,
              build_id: str, structure: CausalStructure, churn_reasons: ChurnReasons,
              spark: SparkBuild | None = None, refresh: bool = False) -> BuildResult:
    """Build the database on `con`: the inputs, the plan, the audits, the models, then build_info."""
    build_started = time.perf_counter()
    plan = read_plan()
    if not sys.stdout.isatty():
        run_file(con, "queries", "hide_query_progress")
    run_file(con, "queries", "set_utc_time_zone")
    # DuckDB's default (80% of RAM) leaves nothing for the rest of the process at a million accounts;
    # DuckDB spills what does not fit to its temp folder beside the database (see settings)
    memory_limit_mb = settings.memory_limit_mb or min(DEFAULT_MEMORY_LIMIT_MB, _half_of_ram_mb())
    set_memory_limit(con, memory_limit_mb)

    # a refresh writes into a copy of the previous database: its rows to reuse are set aside, the rest dropped
    refreshing = Refresh.start(con, plan) if refresh else None
    run = PlanRun(con, plan, settings, progress, accounts, churn_reasons, spark, refreshing)
    warnings = run.load({ACCOUNTS.name: accounts, INTERACTIONS.name: interactions, MRR_HISTORY.name: mrr_history})
    # row numbers are fixed in the raw tables now; later stages need no order, which saves memory
    run_file(con, "queries", "set_unordered_inserts")
    as_of = run.run()
    # what the next build's refresh compares its inputs with (read while the loader's views are still there)
    sources = (ACCOUNTS, INTERACTIONS, MRR_HISTORY)
    create_refresh_basis(con, run.build_engine, all("duckdb" in run.where.get(f"src_{s.name}", ()) for s in sources),
                         as_of, refreshing.digests_to_reuse(as_of) if refreshing is not None else None)
    if refreshing is not None:
        refreshing.release()

    progress.run("audits", "audits", lambda: run_audits(con))
    notes: list[str] = []
    progress.run("models", "driver_effects",
                 lambda: fit_models(con, notes, as_of, settings, structure, memory_limit_mb))

    _drop_working_tables(con, plan)
    loaded = run.filling.loaded
    create_input_columns(con, loaded)
    table_rows = {name: row_count(con, name) for name in plan.kept if name != "build_info"}
    table_rows["build_info"] = 1
    create_build_info(con, build_id, as_of, settings, churn_reasons, loaded, table_rows, warnings,
                      time.perf_counter() - build_started)

    load_report, reject_summary, not_listed = reports(con)
    return BuildResult(db_path=temp_path, build_id=build_id, as_of=as_of, seconds=0.0, table_rows=table_rows,
                       load_report=load_report, reject_summary=reject_summary, warnings=warnings, notes=notes,
                       churn_reasons_not_listed=not_listed,
                       refresh=refreshing.outcome.sentence() if refreshing is not None else "")


def _drop_working_tables(con: duckdb.DuckDBPyConnection, plan: Plan) -> None:
    """Drop what only fed the build, so the database holds what users read: the plan's working tables and the
    loader's (raw_<source> is a view over a Parquet input, a table of a CSV's text; raw_<source>_files, a folder or
    glob input's first row number of each file; src_<source>, a view)."""
    loader = [*input_tables(), *(f"raw_{source.name}_files" for source in (ACCOUNTS, INTERACTIONS, MRR_HISTORY))]
    views = {row[0] for row in run_file(con, "queries", "user_views").fetchall()}
    for name in (*plan.dropped, *loader):
        execute_template(con, "drop_if_exists", object=TrustedSql("view" if name in views else "table"),
                         target=identifier(name))


def _half_of_ram_mb() -> int:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4096
    return max(1024, total // 2 // (1 << 20))
