"""Build the retention database: load the inputs, run the plan read from sql/, audit, fit the models, and swap the
new file in atomically. This module owns build_database and the swap: the whole build goes into a temporary file
beside the target, renamed over it only once every audit passed, so a failed build leaves the previous database
exactly as it was and a reader (the dashboard) keeps serving the old file until the new one is complete; and a Spark
build's output folders (one per build, the previous one kept for a reader still on the previous file).

The build by concept, as the data flows:

    plan.py           what each SQL file makes, how and on which engines, in the order its references give
    build_run.py      running the plan: the inputs, the one loop over its steps on either engine, the audits,
                      the models, build_info
    build_fill.py     what Python fills: the settings tables, the segment columns, the template slots
    build_audits.py   the audits (sql/50_audits), run before the models
    build_models.py   the models fitted into the new database
    build_info.py     build_info and input_columns: what the build was given and made
    build_result.py   what a build reports as it runs and returns, and BuildError
    spark/handover.py a Spark build's session and the moves of tables between DuckDB and Spark
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable

import duckdb

from .build_audits import AuditError, run_audits
from .build_info import recorded_path, recorded_settings
from .build_refresh import RefreshOutcome, copy_previous, previous_build_problem
from .build_result import BuildError, BuildResult, Progress, StageEvent
from .build_run import run_build
from .load import input_location
from .churn_reasons import load as load_churn_reasons
from .models.causal_structure import load as load_causal_structure
from .plan import ENGINES, read_plan
from .settings import DEFAULT_DB_PATH, BuildSettings
from .spark.handover import SparkBuild

# What callers import from here (the CLI, the app's rebuild, the demo, the benchmark)
__all__ = ["DEFAULT_DB_PATH", "ENGINES", "AuditError", "BuildError", "BuildResult", "StageEvent", "build_database",
           "remove_older_builds", "run_audits"]


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
    incremental: bool = False,
) -> BuildResult:
    """Build `db_path` from the input files; on any failure the previous file is left untouched.

    With engine "spark" the plan's steps whose header lists spark (staging, metrics, panel and most marts) run on a
    Spark session (`spark_master`, default local[*], or a Spark Connect sc:// URL; `spark_conf` adds session
    options); their tables come back into the DuckDB file, and the rest, the audits, models and build_info run on
    DuckDB as in the default engine. Spark's tables stay as Parquet in a folder of this build under `spark_output`
    (default: `<database name>.parquet` beside it), and the database reads the large ones (`on spark: parquet view`)
    as views over it; once the new file is in place the folders of builds before the previous one are removed (see
    remove_older_builds), and a failed build removes its own.

    With `incremental` the build refreshes the database already at `db_path`: it starts from a copy of it and
    recomputes only the rows the changed inputs reach (pipelines/build_refresh.py), or, when it cannot show the result
    would equal a full build's, builds whole; result.refresh says which, and why.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if spark_output is not None and engine != "spark":
        raise ValueError("spark_output is the Spark engine's output folder: give engine='spark'")
    settings = settings or BuildSettings()
    structure = load_causal_structure(settings.causal_structure)  # a bad file fails before any work
    churn_reasons = load_churn_reasons(settings.churn_reasons)  # read once: the mapping applied is the one recorded
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    build_id = uuid.uuid4().hex
    temp_path = db_path.with_name(f".{db_path.name}.building-{build_id[:8]}")
    started = time.perf_counter()
    refresh_problem = previous_build_problem(
        db_path, settings, json.loads(json.dumps(recorded_settings(settings, churn_reasons), default=str)),
        _input_paths(accounts, interactions, mrr_history), engine) if incremental else None
    if incremental and refresh_problem is None:
        copy_previous(db_path, temp_path)
    con = duckdb.connect(str(temp_path))
    work = tempfile.TemporaryDirectory(prefix=f".{db_path.name}.spark-", dir=db_path.parent) if engine == "spark" else None
    # absolute: the database's views name these files, and the app opens the database from anywhere
    output_root = Path(spark_output or db_path.with_name(f"{db_path.stem}.parquet")).resolve() if work else None
    output_dir = output_root / f"build-{build_id}" if output_root else None
    root_existed = output_root is not None and output_root.exists()
    try:
        spark = (SparkBuild(con, read_plan(), Path(work.name), output_dir, spark_master, spark_conf)
                 if work and output_dir is not None else None)
        result = run_build(con, _location(accounts), _location(interactions),
                           _location(mrr_history) if mrr_history else None, settings, Progress(progress), temp_path,
                           build_id, structure, churn_reasons, spark,
                           refresh=incremental and refresh_problem is None)
        con.checkpoint()
        con.close()
        os.replace(temp_path, db_path)
    except BaseException:
        con.close()
        for leftover in (temp_path, temp_path.with_name(temp_path.name + ".wal")):
            leftover.unlink(missing_ok=True)
        # the previous build's folder, which the previous file reads, stays
        if output_dir is not None and output_root is not None:
            shutil.rmtree(output_dir, ignore_errors=True)
            if not root_existed and output_root.exists() and not any(output_root.iterdir()):
                output_root.rmdir()
        raise
    finally:
        if work:
            work.cleanup()
    if output_dir is not None and output_root is not None:
        remove_older_builds(output_root, output_dir)
        result.notes.append(f"Spark's tables are Parquet under {output_dir}; {' and '.join(read_plan().parquet_views)} "
                            "are views over it in the database, so keep that folder with the database file")
    result.db_path = db_path
    result.seconds = time.perf_counter() - started
    if refresh_problem is not None:
        result.refresh = RefreshOutcome(False, refresh_problem).sentence()
    return result


def _input_paths(accounts, interactions, mrr_history) -> dict[str, str | None]:
    """Each input's path as build_info records it, None for an absent MRR file."""
    return {name: recorded_path(path) if path is not None else None
            for name, path in (("accounts", accounts), ("interactions", interactions), ("mrr_history", mrr_history))}


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
