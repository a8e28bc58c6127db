"""The `retention bench` command: time and measure every stage on demo data at a named scale.

Scales (demo accounts; interactions grow linearly, about 30 per account): S = 5,000 (CSV),
M = 100,000 (Parquet), L = 1,000,000 (Parquet); `--accounts N` gives a custom size (CSV) for a quick
check. The demo data is generated once per size, format and seed under `--workdir` and reused by later
runs (generation is deterministic, so the files are the same); the database is rebuilt every run.

Each stage runs in its own child process (a fresh Python), so its peak memory is its own:
the child imports and prepares what the stage needs (untimed), resets its peak-RSS high-water mark
(Linux `/proc/self/clear_refs`; elsewhere the figure is the child's whole-process peak), then runs the
stage and reads `getrusage(RUSAGE_SELF).ru_maxrss`. A stage is run `--repeats` times in that child and
its figure is the median, unless the first run takes 10 s or more, when one run is the figure.

Figures, one JSON object per line (`name, scale, seconds, peak_rss_mb, rows` plus extras):
  demo_generate       writing the demo files (reused: the figure recorded when they were written)
  scan_floor          DuckDB reading every column of every input once into one aggregate
  build_total         `build_database` end to end; ratio = build ÷ scan floor
  build_<stage>       its stages (load, staging, metrics, panel, marts, models, audits) from the build's
                      progress events, summed per stage; rows = the largest table the stage made
  write_floor         every table the build kept, held in a temporary table, written into a new database file
                      (only the writes timed): the least that writing the build's output costs
  build_data          the stages without models (the data pipeline alone); ratio = it ÷ scan floor, and
                      ratio_to_both_floors = it ÷ (scan floor + write floor)
  refresh_total       `build_database(incremental=True)` after the last REFRESH_DAYS days arrive: the demo's inputs
                      as exported that many days before their end are built, then refreshed from the full inputs
                      (the earlier export's rows first, then the new ones); ratio = it ÷ build_total
  refresh_data        the refresh without its models stage; ratio = it ÷ build_data
  km_by_segment       KaplanMeier(by=plan).fit(con): the per-day counts (for no filter, the ones the build stored
                      in km_segment_counts) and every estimate
  km_by_segment_counted  the same with use_stored_counts=False: DuckDB counts the accounts (a filtered view's path)
  km_lifelines        lifelines KaplanMeierFitter per plan level on the same accounts, already in memory;
                      km_by_segment.ratio = lifelines ÷ ours (above 1: ours is faster)
  cox_sample_ours     our TimeVaryingCox on a random sample of accounts (all of their months), same design
  cox_sample_lifelines  lifelines CoxTimeVaryingFitter on that design; cox_sample_ours.ratio = lifelines ÷ ours
  cox_full_fit_ours   our TimeVaryingCox on the whole panel (the Newton iterations only)
  drivers_fit         ServiceDrivers().fit(con) on the whole panel: read, design, fit, PH tests
  whatif, risk_scoring  WhatIf and AccountRisk over the active accounts, given a fitted drivers model
  forecast            `retention forecast`'s work: read the accounts and MRR, simulate 12 months ahead with intervals
  brief_overview, brief_investment  `retention report`'s work, caches empty: gather the page's numbers (the
                      overview with the build's forecast; the what-if of WHATIF_CHANGES with a cost), draw the
                      charts and lay out the PDF
  dashboard_<page>_first_render     a fresh app session's first render of the page (Streamlit caches empty)
  dashboard_<page>_filter_change    the rerun after the sidebar's plan filter changes to Starter
  dashboard_<page>_cached_rerun     the rerun after it changes back to All (every result cached)
  dashboard_drivers_filtered_refit  the plan filter set to Starter again (cached), then the rerun after the
                      "Refit on the filtered accounts" toggle is turned on: the exact refit a filter change no
                      longer starts
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar


REPEAT_UNDER_SECONDS = 10.0
DEFAULT_SEED = 7
DEFAULT_REPEATS = 3
# lifelines' time-varying Cox grows faster than linearly with rows: a sample of accounts keeps it to seconds
# while the ratio stays like-for-like
COX_SAMPLE_ACCOUNTS = 5_000
KM_SEGMENT = "plan"  # four levels in the demo
FILTER_COLUMN, FILTER_VALUE = "plan", "Starter"
WHATIF_CHANGES = (("first_response_hours", "-25%"),)
DASHBOARD_PAGES = ("overview", "survival", "drivers", "investment", "at_risk", "data_page")
APP_PATH = Path(__file__).resolve().parents[1] / "streamlit_app.py"
APP_RUN_TIMEOUT_S = 900
APP_ENV = {"OPENBLAS_NUM_THREADS": "1"}  # as `make run` starts the app
LOAD_SECONDS = 120.0
# accounts per world of --forecast-worlds: enough churn for each world's life table, few enough for dozens of worlds
FORECAST_WORLD_ACCOUNTS = 3000
# the people's clients: a browser each, or the light websocket client (benchmarks/ws_load.py)
LOAD_CLIENTS = ("browser", "websocket")
# up to this many people the browsers leave a 2-core machine's server a core; beyond, websocket is the default
BROWSER_PEOPLE_DEFAULT_MAX = 5
# what each latency figure means, for each client
LOAD_FIGURES_MEANING = {
    "browser": "action: from the click until the page shows the run has ended, in the browser (which shares this "
               "machine's cores with the server); server answer: from the rerun request to the run's end, read "
               "from the websocket's frames.",
    "websocket": "action and server answer are one figure here: from the rerun request the client sent to the "
                 "server's message that the run finished (no browser draws anything; the client's own CPU is in "
                 "the machine's cores busy).",
}
BUILD_STAGES = ("load", "staging", "metrics", "panel", "marts", "models", "audits")
# the refresh case: this many days of new data arriving on top of the rest
REFRESH_DAYS = 7


@dataclass(frozen=True)
class Scale:
    label: str
    n_accounts: int
    file_format: str


SCALES = {
    "S": Scale("S", 5_000, "csv"),
    "M": Scale("M", 100_000, "parquet"),
    "L": Scale("L", 1_000_000, "parquet"),
}

# The targets: (figure, text, scales it applies to, check(figure) -> bool)
TARGETS = (
    ("build_total", "≤ 180 s", ("L",), lambda f: f["seconds"] <= 180),
    ("build_total", "peak RSS ≤ 6 GB", ("L",), lambda f: f["peak_rss_mb"] <= 6 * 1024),
    ("build_data", "build ÷ scan floor ≤ 10", ("M", "L"), lambda f: f.get("ratio", float("inf")) <= 10),
    ("build_models", "≤ 30 s", ("L",), lambda f: f["seconds"] <= 30),
    ("refresh_total", "≤ 10% of build_total", ("L",), lambda f: f.get("ratio", float("inf")) <= 0.1),
    ("km_by_segment", "≤ 0.1 s", ("M",), lambda f: f["seconds"] <= 0.1),
    ("km_by_segment", "≥ 5× faster than lifelines", ("S", "M", "L"), lambda f: f.get("ratio", 0) >= 5),
    ("cox_sample_ours", "≥ 10× faster than lifelines", ("S", "M", "L"), lambda f: f.get("ratio", 0) >= 10),
    ("drivers_fit", "≤ 60 s", ("L",), lambda f: f["seconds"] <= 60),
    *((f"dashboard_{p}_first_render", "≤ 2 s", ("M",), lambda f: f["seconds"] <= 2) for p in DASHBOARD_PAGES),
    *((f"dashboard_{p}_first_render", "≤ 3 s", ("L",), lambda f: f["seconds"] <= 3) for p in DASHBOARD_PAGES),
    *((f"dashboard_{p}_filter_change", "≤ 1 s", ("M",), lambda f: f["seconds"] <= 1) for p in DASHBOARD_PAGES),
    *((f"dashboard_{p}_filter_change", "≤ 2 s", ("L",), lambda f: f["seconds"] <= 2) for p in DASHBOARD_PAGES),
    *((f"dashboard_{p}_cached_rerun", "≤ 0.3 s", ("M", "L"), lambda f: f["seconds"] <= 0.3)
      for p in DASHBOARD_PAGES),
    ("dashboard_investment_widget_change", "≤ 1 s", ("M",), lambda f: f["seconds"] <= 1),
    ("dashboard_investment_widget_change", "≤ 2 s", ("L",), lambda f: f["seconds"] <= 2),
    ("dashboard_drivers_filtered_refit", "≤ 1 s", ("M",), lambda f: f["seconds"] <= 1),  # a widget change
)


class StageError(RuntimeError):
    """A benchmark stage failed in its child process; the message says which and why."""


# --------------------------------------------------------------------------------------------
# Measuring inside a child process
# --------------------------------------------------------------------------------------------


def _reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark to its current RSS (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


_Result = TypeVar("_Result")


def _timed_runs(work: Callable[[], _Result], repeats: int,
                prepare: Callable[[], None] | None = None) -> tuple[list[float], float, _Result]:
    """Run `work` up to `repeats` times (once if it takes >= 10 s), each after `prepare` (untimed); return the
    seconds, peak RSS MB, last result."""
    runs: list[float] = []
    peak = 0.0
    while True:  # at least once
        if prepare is not None:
            prepare()
        _reset_peak_rss()
        started = time.perf_counter()
        result = work()
        runs.append(time.perf_counter() - started)
        peak = max(peak, _peak_rss_mb())
        if runs[-1] >= REPEAT_UNDER_SECONDS or len(runs) >= max(1, repeats):
            return runs, peak, result


def _figure(name: str, runs: list[float], peak_rss_mb: float, rows: int, **extra) -> dict:
    return {"name": name, "seconds": statistics.median(runs), "peak_rss_mb": round(peak_rss_mb, 1),
            "rows": int(rows), "runs": [round(r, 4) for r in runs], **extra}


def _child_main(task: str, kwargs_path: str, result_path: str) -> None:
    """Entry of a stage's child process: run TASKS[task] and write its figures (or the error) as JSON."""
    kwargs = json.loads(Path(kwargs_path).read_text(encoding="utf-8"))
    result: dict[str, object]
    try:
        result = {"figures": TASKS[task](**kwargs)}
    except BaseException as exc:  # the parent reports it; the benchmark goes on with the other stages
        result = {"error": f"{task}: {type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    Path(result_path).write_text(json.dumps(result, default=float), encoding="utf-8")


def run_in_child(task: str, **kwargs) -> list[dict]:
    """Run TASKS[task](**kwargs) in a fresh Python process and return its figures.

    A subprocess rather than multiprocessing's 'spawn': spawn re-imports the parent's main module,
    which breaks when the benchmark is started from a script or `python -c` without a main guard."""
    with tempfile.TemporaryDirectory(prefix="retention-bench-") as folder:
        kwargs_path, result_path = Path(folder) / "kwargs.json", Path(folder) / "result.json"
        kwargs_path.write_text(json.dumps(kwargs), encoding="utf-8")
        code = "import sys; from benchmarks.bench import _child_main; _child_main(*sys.argv[1:])"
        # the child's stdout would mix with our JSON lines: capture it and pass it on to stderr
        # the app runs with one BLAS thread (see the Makefile's run target), so its benchmark does too
        env = {**os.environ, **APP_ENV} if task == "dashboard" else None
        completed = subprocess.run([sys.executable, "-c", code, task, str(kwargs_path), str(result_path)],
                                   stdout=subprocess.PIPE, text=True, errors="replace", env=env)
        if completed.stdout:
            print(completed.stdout, end="", file=sys.stderr, flush=True)
        if not result_path.exists():
            raise StageError(f"{task}: the child process ended (exit code {completed.returncode}) before reporting; "
                             "a negative code is the signal that killed it (-9: out of memory)")
        result = json.loads(result_path.read_text(encoding="utf-8"))
    if "error" in result:
        raise StageError(result["error"] + "\n" + result.get("traceback", ""))
    return result["figures"]


# --------------------------------------------------------------------------------------------
# The stages (each runs in a child; arguments are plain values)
# --------------------------------------------------------------------------------------------


def task_generate(out_dir: str, n_accounts: int, seed: int, file_format: str) -> list[dict]:
    from pipelines.demo import generate_demo

    _reset_peak_rss()
    started = time.perf_counter()
    demo = generate_demo(Path(out_dir), n_accounts=n_accounts, seed=seed, file_format=file_format,
                         progress=lambda message: print(f"  demo: {message}", file=sys.stderr, flush=True))
    seconds = time.perf_counter() - started
    return [_figure("demo_generate", [seconds], _peak_rss_mb(), demo.n_interactions, accounts=demo.n_accounts,
                    interactions=demo.n_interactions, mrr_history_rows=demo.n_mrr_rows, format=file_format,
                    seed=seed, reused=False)]


def task_scan(paths: dict[str, str], repeats: int) -> list[dict]:
    import duckdb

    from pipelines.sqlrun import run_file

    con = duckdb.connect()
    run_file(con, "queries", "hide_query_progress")  # as the build does in a log: the same work, and a clean log

    def scan() -> dict[str, int]:
        return {source: run_file(con, "bench", "scan_parquet" if path.endswith(".parquet") else "scan_csv",
                                 {"path": path}).fetchall()[0][0] for source, path in paths.items()}

    runs, peak, rows = _timed_runs(scan, repeats)
    files = {source: {"rows": rows[source], "bytes": os.path.getsize(path)} for source, path in paths.items()}
    return [_figure("scan_floor", runs, peak, sum(rows.values()), files=files)]


def task_build(paths: dict[str, str], db_path: str, repeats: int) -> list[dict]:
    from pipelines.build import BuildResult, build_database

    events: list[list[tuple]] = []

    def on_stage(event) -> None:
        # the peak since the previous event is this table's; reset so the next table starts afresh
        events[-1].append((event.stage, event.table, event.rows, event.seconds, _peak_rss_mb()))
        _reset_peak_rss()

    def build() -> BuildResult:
        events.append([])
        return build_database(accounts=paths["accounts"], interactions=paths["interactions"],
                              mrr_history=paths.get("mrr_history"), db_path=db_path, progress=on_stage)

    runs, peak, result = _timed_runs(build, repeats)
    # the stage events reset the high-water mark, so the build's peak is the largest of theirs
    peak = max([peak] + [e[4] for run in events for e in run])
    input_rows = sum(row["rows_read"] for row in result.load_report)
    figures = [_figure("build_total", runs, peak, input_rows, account_months=result.table_rows["account_months"],
                       interactions=result.table_rows["stg_interactions"],
                       accounts=result.table_rows["stg_accounts"], database_mb=_megabytes(db_path))]
    for stage in BUILD_STAGES:
        per_run = [[e for e in run if e[0] == stage] for run in events]
        if not per_run[0]:
            continue
        tables = {}
        for position, first in enumerate(per_run[0]):
            table_runs = [run[position][3] for run in per_run]
            tables[first[1]] = {"rows": first[2], "seconds": round(statistics.median(table_runs), 4),
                                "peak_rss_mb": round(max(run[position][4] for run in per_run), 1)}
        figures.append(_figure(
            f"build_{stage}", [sum(e[3] for e in run) for run in per_run],
            max(e[4] for run in per_run for e in run), max(e[2] for e in per_run[0]), tables=tables))
    return figures


def task_write_floor(db_path: str, repeats: int) -> list[dict]:
    """Every table the build kept, held in a temporary table, written into a new database file beside it under the
    build's settings: the least that writing the build's output costs, as the scan floor is the least that reading
    its input does. One table is held at a time, and only its write is timed."""
    import duckdb

    from pipelines.settings import DEFAULT_MEMORY_LIMIT_MB
    from pipelines.sqlrun import (TrustedSql, create_table_as, execute_template, file_fragment, identifier,
                                  row_count, run_file, set_memory_limit)

    target = Path(db_path).with_name(".write_floor.duckdb")
    target.unlink(missing_ok=True)
    con = duckdb.connect(str(target))
    try:
        run_file(con, "queries", "hide_query_progress")
        run_file(con, "queries", "set_unordered_inserts")
        set_memory_limit(con, DEFAULT_MEMORY_LIMIT_MB)  # the build's limit on a machine of 8 GB or more
        run_file(con, "queries", "attach_build", {"path": db_path})
        tables = [row[0] for row in run_file(con, "bench", "kept_tables").fetchall()]
        written: list[tuple[float, int]] = []  # per run: the seconds of the writes alone, the rows written

        def write_every_table() -> None:
            seconds, rows = 0.0, 0
            for table in tables:
                held = identifier(f"held_{table}")
                create_table_as(con, f"held_{table}", file_fragment("bench", "build_table_rows",
                                                                   table=identifier(table)), {}, temporary=True)
                started = time.perf_counter()
                create_table_as(con, table, file_fragment("queries", "all_rows", table=held), {})
                seconds += time.perf_counter() - started
                rows += row_count(con, table)
                execute_template(con, "drop_if_exists", object=TrustedSql("table"), target=held)
            written.append((seconds, rows))

        _, peak, _ = _timed_runs(write_every_table, repeats)
        size = _megabytes(target)
    finally:
        con.close()
        target.unlink(missing_ok=True)
        target.with_name(target.name + ".wal").unlink(missing_ok=True)
    return [_figure("write_floor", [seconds for seconds, _ in written], peak, written[-1][1], tables=len(tables),
                    database_mb=size)]


def _megabytes(path: str | Path) -> float:
    return round(os.path.getsize(path) / 2 ** 20, 1)


def _refresh_exports(paths: dict[str, str], folder: Path, days: int) -> tuple[dict[str, Path], dict[str, Path]]:
    """The demo's inputs as exported `days` days before their end and as exported at the end (the rows the earlier
    export had first, in its order, then the new ones): where each export's files are."""
    import duckdb

    from pipelines.sqlrun import run_file, run_query, sql_text

    con = duckdb.connect(str(folder / "exports.duckdb"))
    try:
        run_file(con, "queries", "hide_query_progress")  # preparing the exports is not what the bench times
        for source, path in paths.items():
            file_format = "parquet" if path.endswith(".parquet") else "csv"
            con.sql(sql_text("bench", f"refresh_rows_{file_format}"), params={"path": path}).create(f"bench_{source}")
        cut = run_query(con, sql_text("bench", "refresh_cut"), {"days": days}).fetchall()[0][0]
        exports: dict[str, dict[str, Path]] = {}
        for export in ("earlier", "later"):
            (folder / export).mkdir(parents=True, exist_ok=True)
            exports[export] = {}
            for source, path in paths.items():
                target = folder / export / Path(path).name
                rows = con.sql(sql_text("bench", f"refresh_{export}_{source}"), params={"cut": cut})
                if target.suffix == ".parquet":
                    rows.write_parquet(str(target))
                else:
                    rows.write_csv(str(target), header=True)
                exports[export][source] = target
    finally:
        con.close()
    (folder / "exports.duckdb").unlink(missing_ok=True)
    return exports["earlier"], exports["later"]


def task_refresh(paths: dict[str, str], work_dir: str, days: int, repeats: int) -> list[dict]:
    """`retention build --incremental` after `days` days of new data: the earlier export is built (without models,
    which a refresh fits whole anyway), then each run refreshes a copy of that database from the later export."""
    import shutil

    from pipelines.build import BuildResult, build_database
    from pipelines.settings import BuildSettings

    folder = Path(work_dir)
    folder.mkdir(parents=True, exist_ok=True)
    earlier, later = _refresh_exports(paths, folder, days)
    inputs = folder / "inputs"
    inputs.mkdir(exist_ok=True)
    current = {source: inputs / path.name for source, path in earlier.items()}

    def use(export: dict[str, Path]) -> None:
        for source, path in export.items():
            shutil.copyfile(path, current[source])

    def build(db: Path, settings: BuildSettings | None = None, incremental: bool = False, progress=None) -> BuildResult:
        return build_database(accounts=current["accounts"], interactions=current["interactions"],
                              mrr_history=current.get("mrr_history"), db_path=db, settings=settings,
                              incremental=incremental, progress=progress)

    use(earlier)
    build(folder / "earlier.duckdb", BuildSettings(fit_models=False))
    use(later)
    events: list[list] = []  # each run's stage events

    def fresh_copy() -> None:
        shutil.copyfile(folder / "earlier.duckdb", folder / "refreshed.duckdb")
        events.append([])

    runs, peak, result = _timed_runs(
        lambda: build(folder / "refreshed.duckdb", incremental=True, progress=events[-1].append), repeats,
        prepare=fresh_copy)
    data_runs = [sum(e.seconds for e in run if e.stage != "models") for run in events]
    if not result.refresh.startswith("Incremental"):
        raise RuntimeError(f"the bench's refresh built whole: {result.refresh}")
    interactions = result.table_rows["stg_interactions"]
    # a refresh deletes the rows it recomputes and appends them anew: the file keeps the deleted rows' space
    return [_figure("refresh_total", runs, peak, interactions, days=days, refresh=result.refresh,
                    database_mb=_megabytes(folder / "refreshed.duckdb")),
            _figure("refresh_data", data_runs, peak, interactions, days=days)]


def task_km(db_path: str, by: str, repeats: int) -> list[dict]:
    import duckdb

    from pipelines.models.survival import KaplanMeier

    con = duckdb.connect(db_path, read_only=True)
    figures = []
    for name, stored in (("km_by_segment", True), ("km_by_segment_counted", False)):
        runs, peak, model = _timed_runs(lambda: KaplanMeier(by=by, use_stored_counts=stored).fit(con), repeats)
        figures.append(_figure(name, runs, peak, model.n_accounts_, segment=by, groups=len(model.groups_),
                               counts=model.counts_source_))
    return figures


def task_km_lifelines(db_path: str, by: str, repeats: int) -> list[dict]:
    import duckdb
    from lifelines import KaplanMeierFitter

    from pipelines.sqlrun import file_fragment, identifier

    with duckdb.connect(db_path, read_only=True) as con:
        frame = con.execute(file_fragment("bench", "km_lifelines_rows", segment=identifier(by)).text).df()
    groups = [(level, part.duration_days.to_numpy(), part.churned.to_numpy())
              for level, part in frame.groupby("segment", dropna=False)]

    def fit_each_level() -> list:
        return [KaplanMeierFitter().fit(durations, events, label=str(level)) for level, durations, events in groups]

    runs, peak, _ = _timed_runs(fit_each_level, repeats)
    return [_figure("km_lifelines", runs, peak, len(frame), segment=by, groups=len(groups))]


def _sampled_design(con, n_sample: int | None, seed: int):
    """The drivers model's default design on all months of a seeded random sample of accounts (None: all)."""
    from pipelines.models.drivers import FACTORS, build_design, panel_rows, sample_accounts
    from pipelines.sqlrun import query_text, run_file

    kinds = dict(con.execute(query_text("segment_column_kind_pairs")).fetchall())
    covariates = ["plan"] if "plan" in kinds else []
    chosen = None
    if n_sample is not None:
        ids = run_file(con, "bench", "survival_account_ids").fetchnumpy()["account_id"]
        chosen = sample_accounts(ids, n_sample, seed)
    # one row order on every run, so the timed fits are of the same problem
    panel = panel_rows(con, covariates, account_ids=chosen).sort_values(["account_id", "start_day"],
                                                                        ignore_index=True)
    design = build_design(panel, [f.name for f in FACTORS], covariates, kinds)
    return panel, design


def task_cox(db_path: str, engine: str, n_sample: int | None, seed: int, repeats: int) -> list[dict]:
    import duckdb
    import numpy as np

    from pipelines.models.coxph import TimeVaryingCox

    with duckdb.connect(db_path, read_only=True) as con:
        panel, design = _sampled_design(con, n_sample, seed)
    X = design.X.to_numpy()
    names = list(design.X.columns)
    n_accounts = int(panel.account_id.nunique())
    extra = {"accounts": n_accounts, "events": int(panel.churned.sum()), "terms": len(names)}
    if n_sample is not None:
        extra["sample_accounts"] = n_sample
        extra["sample_seed"] = seed

    if engine == "ours":
        runs, peak, model = _timed_runs(
            lambda: TimeVaryingCox().fit(panel.start_day, panel.stop_day, panel.churned, X, names), repeats)
        coefs = model.params_.to_numpy()
        name = "cox_sample_ours" if n_sample is not None else "cox_full_fit_ours"
    else:
        import warnings

        from lifelines import CoxTimeVaryingFitter

        frame = design.X.copy()
        frame.columns = [f"x{i}" for i in range(len(names))]  # lifelines formulas dislike '=' and spaces
        frame["id"] = panel.account_id.to_numpy()
        frame["start"] = panel.start_day.to_numpy(float)
        frame["stop"] = panel.stop_day.to_numpy(float)
        frame["event"] = panel.churned.to_numpy(bool)

        def fit():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return CoxTimeVaryingFitter(penalizer=0.0).fit(frame, id_col="id", event_col="event",
                                                               start_col="start", stop_col="stop")

        runs, peak, model = _timed_runs(fit, repeats)
        coefs = model.params_.to_numpy()
        name = "cox_sample_lifelines"
    return [_figure(name, runs, peak, len(panel), coefs=[float(c) for c in np.asarray(coefs)], **extra)]


def task_drivers(db_path: str, repeats: int) -> list[dict]:
    import duckdb

    from pipelines.models.drivers import ServiceDrivers

    con = duckdb.connect(db_path, read_only=True)
    runs, peak, drivers = _timed_runs(lambda: ServiceDrivers().fit(con), repeats)
    info = drivers.model_info_
    return [_figure("drivers_fit", runs, peak, info["n_account_months"], accounts=info["n_accounts"],
                    events=info["n_events"], terms=len(drivers.effects_), iterations=info["iterations"])]


def task_whatif_risk(db_path: str, repeats: int) -> list[dict]:
    import duckdb

    from pipelines.models.drivers import ServiceDrivers
    from pipelines.models.risk import AccountRisk
    from pipelines.models.whatif import WhatIf

    con = duckdb.connect(db_path, read_only=True)
    drivers = ServiceDrivers().fit(con)  # the input both need, as in the app; untimed
    runs, peak, whatif = _timed_runs(lambda: WhatIf(changes=list(WHATIF_CHANGES)).fit(con, drivers=drivers), repeats)
    figures = [_figure("whatif", runs, peak, whatif.n_accounts_, draws=whatif.n_draws,
                       changes=[f"{f} {c}" for f, c in WHATIF_CHANGES])]
    runs, peak, risk = _timed_runs(lambda: AccountRisk().fit(con, drivers=drivers), repeats)
    figures.append(_figure("risk_scoring", runs, peak, len(risk.accounts_)))
    return figures


def task_forecast(db_path: str, repeats: int) -> list[dict]:
    import duckdb

    from pipelines.models.forecast import RetentionForecast, read_inputs

    con = duckdb.connect(db_path, read_only=True)

    def forecast():
        inputs = read_inputs(con)  # the read is part of what `retention forecast` and a filtered overview pay
        return RetentionForecast().fit(inputs.accounts, inputs.as_of, inputs.mrr)

    runs, peak, fitted = _timed_runs(forecast, repeats)
    return [_figure("forecast", runs, peak, fitted.n_active_, draws=fitted.base.draws, months=fitted.base.months)]


def task_briefs(db_path: str, repeats: int) -> list[dict]:
    import streamlit as st
    import streamlit.logger

    from dashboard.reports import brief, content, pdf

    streamlit.logger.set_log_level("ERROR")  # the caches' "no runtime" warnings
    con, info = content.open_build(Path(db_path))

    def overview() -> tuple[int, int]:
        st.cache_data.clear()
        st.cache_resource.clear()
        view = content.overview(con, info, ())
        document = pdf.html_to_pdf(brief.overview_html(view, content.forecast_view(con, info, ())))
        return int(view.kpis.loc["as_of"].active_accounts), len(document)

    def investment() -> tuple[int, int]:
        st.cache_data.clear()
        st.cache_resource.clear()
        case = content.investment_case(con, info, tuple(WHATIF_CHANGES), 365, 150_000.0, ())
        return int(case.result["accounts"]), len(pdf.html_to_pdf(brief.investment_html(case)))

    figures = []
    for name, work in (("brief_overview", overview), ("brief_investment", investment)):
        runs, peak, (accounts, size) = _timed_runs(work, repeats)
        figures.append(_figure(name, runs, peak, accounts, pdf_kb=round(size / 1024)))
    return figures


# A widget a user moves on a page after its first render (the investment case's target), timed as widget_change.
PAGE_WIDGET_CHANGES = {"investment": ("slider", "inv_first_response_hours", -30)}
# A page whose filter change shows the build's fit, with a toggle that refits on the filtered accounts: the refit
# is timed as filtered_refit, so its cost stays in the figures
PAGE_REFIT_TOGGLES = {"drivers": "drivers_refit"}


def task_dashboard(db_path: str, page: str, repeats: int) -> list[dict]:
    import duckdb

    os.environ["RETENTION_DB"] = db_path
    import streamlit as st
    from streamlit.logger import set_log_level
    from streamlit.testing.v1 import AppTest

    # outside `streamlit run` every cached function warns "No runtime found": noise in a benchmark
    set_log_level("error")

    import dashboard.charts  # noqa: F401  (imported once, as in a running server; not part of a render)
    import dashboard.data  # noqa: F401
    from pipelines.sqlrun import row_count

    with duckdb.connect(db_path, read_only=True) as con:
        n_accounts = row_count(con, "account_survival")

    timings: dict[str, list[float]] = {"first_render": [], "filter_change": [], "cached_rerun": []}
    peaks = dict.fromkeys(timings, 0.0)

    def timed(kind: str, step: Callable[[], AppTest]) -> AppTest:
        _reset_peak_rss()
        started = time.perf_counter()
        at = step()
        timings[kind].append(time.perf_counter() - started)
        peaks[kind] = max(peaks[kind], _peak_rss_mb())
        if at.exception:
            raise StageError(f"page {page} ({kind}) raised: {[e.value for e in at.exception]}")
        return at

    for _ in range(max(1, repeats)):
        st.cache_data.clear()  # a fresh session on a fresh server: nothing cached
        st.cache_resource.clear()
        at = AppTest.from_file(str(APP_PATH), default_timeout=APP_RUN_TIMEOUT_S)
        if page != "overview":
            at.switch_page(f"dashboard/app_pages/{page}.py")
        at = timed("first_render", lambda: at.run(timeout=APP_RUN_TIMEOUT_S))
        box = lambda: at.sidebar.multiselect(key=f"filter:{FILTER_COLUMN}")  # noqa: E731
        at = timed("filter_change", lambda: box().set_value([FILTER_VALUE]).run(timeout=APP_RUN_TIMEOUT_S))
        at = timed("cached_rerun", lambda: box().set_value([]).run(timeout=APP_RUN_TIMEOUT_S))
        if page in PAGE_WIDGET_CHANGES:
            kind, key, value = PAGE_WIDGET_CHANGES[page]
            timings.setdefault("widget_change", [])
            peaks.setdefault("widget_change", 0.0)
            at = timed("widget_change", lambda: getattr(at, kind)(key=key).set_value(value).run(
                timeout=APP_RUN_TIMEOUT_S))
        if page in PAGE_REFIT_TOGGLES:
            timings.setdefault("filtered_refit", [])
            peaks.setdefault("filtered_refit", 0.0)
            at = box().set_value([FILTER_VALUE]).run(timeout=APP_RUN_TIMEOUT_S)  # cached by the filter change
            at = timed("filtered_refit", lambda: at.toggle(key=PAGE_REFIT_TOGGLES[page]).set_value(True).run(
                timeout=APP_RUN_TIMEOUT_S))
        if max(timings["first_render"][-1], timings["filter_change"][-1]) >= REPEAT_UNDER_SECONDS:
            break
    return [_figure(f"dashboard_{page}_{kind}", runs, peaks[kind], n_accounts, page=page,
                    filter=f"{FILTER_COLUMN}={FILTER_VALUE}" if kind in ("filter_change", "filtered_refit") else None)
            for kind, runs in timings.items()]


TASKS: dict[str, Callable[..., list[dict]]] = {
    "generate": task_generate,
    "scan": task_scan,
    "build": task_build,
    "refresh": task_refresh,
    "write_floor": task_write_floor,
    "km": task_km,
    "km_lifelines": task_km_lifelines,
    "cox": task_cox,
    "drivers": task_drivers,
    "whatif_risk": task_whatif_risk,
    "forecast": task_forecast,
    "briefs": task_briefs,
    "dashboard": task_dashboard,
}


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclass
class BenchPlan:
    scale: str  # "S", "M", "L" or "custom"
    n_accounts: int
    file_format: str
    workdir: Path
    repeats: int = DEFAULT_REPEATS
    seed: int = DEFAULT_SEED
    cox_sample: int = COX_SAMPLE_ACCOUNTS
    regenerate: bool = False

    @property
    def data_dir(self) -> Path:
        return self.workdir / f"{self.scale}-{self.n_accounts}-{self.file_format}-seed{self.seed}"


def _demo_files(plan: BenchPlan, emit) -> dict[str, str]:
    """Generate the demo data (or reuse identical files from an earlier run) and return the input paths."""
    demo_dir = plan.data_dir / "demo"
    marker = demo_dir / "bench_demo.json"
    paths = {name: str(demo_dir / f"{name}.{plan.file_format}") for name in ("accounts", "interactions", "mrr_history")}
    wanted = {"accounts": plan.n_accounts, "seed": plan.seed, "format": plan.file_format}
    recorded = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else None
    if (not plan.regenerate and recorded and all(recorded.get(k) == v for k, v in wanted.items())
            and all(Path(p).exists() for p in paths.values())):
        emit({**recorded["figure"], "reused": True})
        return paths
    marker.unlink(missing_ok=True)
    (figure,) = run_in_child("generate", out_dir=str(demo_dir), n_accounts=plan.n_accounts, seed=plan.seed,
                             file_format=plan.file_format)
    marker.write_text(json.dumps({**wanted, "figure": figure}), encoding="utf-8")
    emit(figure)
    return paths


def run_bench(plan: BenchPlan, emit) -> list[dict]:
    """Run every stage in order, calling emit(figure) as each figure is ready; return the errors."""
    errors: list[dict] = []
    figures: dict[str, dict] = {}

    def record(figure: dict) -> None:
        figure = {"name": figure["name"], "scale": plan.scale, **{k: v for k, v in figure.items() if k != "name"}}
        figures[figure["name"]] = figure
        emit(figure)

    def stage(task: str, **kwargs) -> list[dict]:
        try:
            return run_in_child(task, **kwargs)
        except StageError as exc:
            errors.append({"stage": task, "error": str(exc)})
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return []

    plan.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        paths = _demo_files(plan, record)
    except StageError as exc:
        return [{"stage": "generate", "error": str(exc)}]
    db_path = str(plan.data_dir / "retention.duckdb")
    repeats = plan.repeats

    for figure in stage("scan", paths=paths, repeats=repeats):
        record(figure)
    build = stage("build", paths=paths, db_path=db_path, repeats=repeats)
    if not build:
        return errors
    scan = figures.get("scan_floor")
    for figure in build:
        if figure["name"] == "build_total" and scan:
            figure.update(ratio=figure["seconds"] / scan["seconds"], ratio_of="build_total ÷ scan_floor")
        else:
            figure["share_of_build"] = figure["seconds"] / build[0]["seconds"]
        record(figure)
    written = stage("write_floor", db_path=db_path, repeats=repeats)
    for figure in written:
        record(figure)
    data_stages = [f for f in build if f["name"].startswith("build_") and f["name"] not in ("build_total", "build_models")]
    if scan and data_stages:
        # the issue's stages (staging, metrics, panel, marts) plus load and audits: the build without model fits
        seconds = sum(f["seconds"] for f in data_stages)
        floors = {}
        if written:
            floors = {"ratio_to_both_floors": seconds / (scan["seconds"] + written[0]["seconds"]),
                      "ratio_to_both_floors_of": "build without the models stage ÷ (scan_floor + write_floor)"}
        record({"name": "build_data", "seconds": seconds, "peak_rss_mb": max(f["peak_rss_mb"] for f in data_stages),
                "rows": build[0]["rows"], "runs": [seconds], "ratio": seconds / scan["seconds"],
                "ratio_of": "build without the models stage ÷ scan_floor", **floors,
                "stages": [f["name"] for f in data_stages]})
    for figure in stage("refresh", paths=paths, work_dir=str(plan.data_dir / "refresh"), days=REFRESH_DAYS,
                        repeats=repeats):
        whole = figures.get("build_total" if figure["name"] == "refresh_total" else "build_data")
        if whole:
            figure.update(ratio=figure["seconds"] / whole["seconds"], ratio_of=f"{figure['name']} ÷ {whole['name']}")
        record(figure)

    ours = stage("km", db_path=db_path, by=KM_SEGMENT, repeats=repeats)
    theirs = stage("km_lifelines", db_path=db_path, by=KM_SEGMENT, repeats=repeats)
    _pair(ours, theirs, "lifelines KaplanMeierFitter ÷ ours (above 1: ours is faster)", record)

    ours = stage("cox", db_path=db_path, engine="ours", n_sample=plan.cox_sample, seed=plan.seed, repeats=repeats)
    theirs = stage("cox", db_path=db_path, engine="lifelines", n_sample=plan.cox_sample, seed=plan.seed,
                   repeats=repeats)
    if ours and theirs:
        difference = max(abs(a - b) for a, b in zip(ours[0]["coefs"], theirs[0]["coefs"]))
        ours[0]["max_abs_coef_difference_vs_lifelines"] = difference
    _pair(ours, theirs, "lifelines CoxTimeVaryingFitter ÷ ours on the same sample (above 1: ours is faster)", record)
    for figure in stage("cox", db_path=db_path, engine="ours", n_sample=None, seed=plan.seed, repeats=repeats):
        figure.pop("coefs", None)
        record(figure)
    for figure in stage("drivers", db_path=db_path, repeats=repeats):
        record(figure)
    for figure in stage("whatif_risk", db_path=db_path, repeats=repeats):
        record(figure)
    for figure in stage("forecast", db_path=db_path, repeats=repeats):
        record(figure)
    for figure in stage("briefs", db_path=db_path, repeats=repeats):
        record(figure)
    for page in DASHBOARD_PAGES:
        for figure in stage("dashboard", db_path=db_path, page=page, repeats=repeats):
            record(figure)
    return errors


def _pair(ours: list[dict], theirs: list[dict], meaning: str, record) -> None:
    if ours and theirs:
        ours[0].update(ratio=theirs[0]["seconds"] / ours[0]["seconds"], ratio_of=meaning)
    for figure in ours + theirs:
        figure.pop("coefs", None)
        record(figure)


def summary_markdown(plan: BenchPlan, figures: list[dict], errors: list[dict], command: str,
                     started_at: datetime, wall_seconds: float) -> str:
    """The figures as a Markdown table, with the machine, the date, the command and the issue's targets."""
    import duckdb

    memory = _total_memory_gb()
    lines = [
        f"Benchmark, scale {plan.scale} ({plan.n_accounts:,} accounts, {plan.file_format}, seed {plan.seed}), "
        f"{started_at:%Y-%m-%d %H:%M} UTC, {wall_seconds / 60:.1f} min wall",
        f"Machine: {os.cpu_count()} CPUs, {memory:.0f} GiB RAM, {platform.platform()}, Python "
        f"{platform.python_version()}, DuckDB {duckdb.__version__}",
        f"Command: `{command}`",
        "",
        "| figure | seconds | runs | peak RSS MB | rows | ratio | target | holds |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    targets: dict[str, list[tuple]] = {}
    for name, text, scales, check in TARGETS:
        targets.setdefault(name, []).append((text, scales, check))
    for f in figures:
        texts, holds = [], []
        for text, scales, check in targets.get(f["name"], []):
            texts.append(f"{text} ({', '.join(scales)})")
            holds.append(("yes" if check(f) else "**no**") if plan.scale in scales else "—")
        ratio = f"{f['ratio']:.1f}" if "ratio" in f else ""
        if "ratio_to_both_floors" in f:
            ratio += f" ({f['ratio_to_both_floors']:.1f} of both floors)"
        reused = " (reused)" if f.get("reused") else ""
        lines.append(f"| {f['name']}{reused} | {_seconds(f['seconds'])} | {len(f.get('runs', [1]))} | "
                     f"{f['peak_rss_mb']:,.0f} | {f['rows']:,} | {ratio} | {'; '.join(texts)} | {'; '.join(holds)} |")
    for error in errors:
        lines.append(f"| {error['stage']} | failed | | | | | | {error['error'].splitlines()[0]} |")
    lines += ["", "seconds: median of the runs (one run when a run took 10 s or more); peak RSS: the stage's own "
              "high-water mark in its child process; ratios: build ÷ scan floor (for build_data also ÷ the scan and "
              "write floors together), and lifelines ÷ ours for KM and Cox."]
    return "\n".join(lines)


# A build stage's time may grow by at most this many times its input rows' growth from one scale to the next.
GROWTH_LIMIT = 1.3


def growth_markdown(runs: list[list[dict]]) -> str:
    """How each build stage grows from one run to the next (runs in order of size, e.g. S, M, L): its time ratio
    divided by the ratio of input rows (build_total's rows: every row of every input). Linear growth is 1.0; each
    step holds when it is at most GROWTH_LIMIT."""
    by_run = [{f["name"]: f for f in figures} for figures in runs]
    labels = [next((f["scale"] for f in figures if "scale" in f), f"run {i + 1}") for i, figures in enumerate(runs)]
    missing = [label for label, named in zip(labels, by_run) if "build_total" not in named]
    if missing:
        raise ValueError(f"no build_total figure in run {', '.join(missing)}: growth needs each run's input rows")
    rows = [named["build_total"]["rows"] for named in by_run]
    steps = list(zip(range(len(runs) - 1), range(1, len(runs))))
    header = ["stage", *(f"{label} s" for label in labels),
              *(f"{labels[b]}/{labels[a]} growth" for a, b in steps), f"holds (≤ {GROWTH_LIMIT})"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 2) + "---|",
             "| input rows | " + " | ".join(f"{r:,}" for r in rows) + " | "
             + " | ".join(f"×{rows[b] / rows[a]:.1f} rows" for a, b in steps) + " | |"]
    stages = [name for name in by_run[0] if name.startswith("build_") and all(name in named for named in by_run)]
    for name in stages:
        seconds = [named[name]["seconds"] for named in by_run]
        growth = [(seconds[b] / seconds[a]) / (rows[b] / rows[a]) if seconds[a] > 0 else float("inf")
                  for a, b in steps]
        holds = "yes" if all(g <= GROWTH_LIMIT for g in growth) else "**no**"
        lines.append(f"| {name} | " + " | ".join(_seconds(t) for t in seconds) + " | "
                     + " | ".join(f"{g:.2f}" for g in growth) + f" | {holds} |")
    return "\n".join(lines)


def _seconds(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _total_memory_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    except (ValueError, OSError, AttributeError):
        return float("nan")


# --------------------------------------------------------------------------------------------
# The `retention bench` command (the only code here that prints to stdout)
# --------------------------------------------------------------------------------------------


def add_bench_parser(subparsers) -> argparse.ArgumentParser:
    """Register `retention bench` on the CLI's subparsers."""
    bench = subparsers.add_parser(
        "bench",
        help="time and measure every stage (scan, build, models, dashboard) on demo data at a scale",
        description=(
            "Generate the demo data at a scale (S = 5,000 accounts, CSV; M = 100,000 and L = 1,000,000, "
            "Parquet; reused when already generated under --workdir), then time each stage in its own "
            "process: one JSON object per figure (name, scale, seconds, peak_rss_mb, rows, ...) and a "
            "summary table at the end. L needs several GB of memory and a long while."
        ),
    )
    size = bench.add_mutually_exclusive_group()
    size.add_argument("--scale", choices=tuple(SCALES), default="S", help="S, M or L (default S)")
    size.add_argument("--accounts", type=int, metavar="N", help="a custom number of accounts instead of a scale")
    bench.add_argument("--format", choices=("csv", "parquet"), dest="file_format",
                       help="input file format (default: csv for S and --accounts, parquet for M and L)")
    bench.add_argument("--repeats", type=int, default=DEFAULT_REPEATS,
                       help="runs per stage whose first run takes under 10 s; the figure is the median (default 3)")
    bench.add_argument("--out", type=Path, metavar="PATH",
                       help="also write the JSON lines to PATH and the summary table to PATH with suffix .md")
    bench.add_argument("--workdir", type=Path, default=Path("data/bench"),
                       help="where the demo data and the database go (default data/bench)")
    bench.add_argument("--cox-sample", type=int, default=COX_SAMPLE_ACCOUNTS, metavar="N",
                       help="accounts in the random sample lifelines' Cox is compared on "
                            f"(default {COX_SAMPLE_ACCOUNTS:,})")
    bench.add_argument("--seed", type=int, default=DEFAULT_SEED, help="demo and sample seed (default 7)")
    bench.add_argument("--regenerate", action="store_true", help="write the demo data again even if it exists")
    bench.add_argument("--users", type=int, metavar="N",
                       help="instead of the stages: N simulated people on the app at once (see --client), for "
                            "--seconds (the build at the scale is made once under --workdir and reused)")
    bench.add_argument("--seconds", type=float, default=LOAD_SECONDS,
                       help=f"how long the --users people use the app (default {LOAD_SECONDS:.0f})")
    bench.add_argument("--client", choices=tuple(LOAD_CLIENTS),
                       help="who plays the --users people: a Chromium browser each (what a person sees, drawing "
                            "included; the browsers share the machine's cores with the server), or a light client "
                            "that speaks Streamlit's websocket protocol as the browser does (the server's answer "
                            f"alone). Default: browser up to {BROWSER_PEOPLE_DEFAULT_MAX} people, websocket above"),
    bench.add_argument("--forecast-worlds", type=int, metavar="N",
                       help="instead of the stages: the forecast's backtest on N demo worlds (seeds --seed onwards, "
                            f"--accounts each, default {FORECAST_WORLD_ACCOUNTS:,}), pooled: how often its 80%% and "
                            "95%% intervals held, and its error against the naive baseline's")
    bench.add_argument("--change-worlds", type=int, metavar="N",
                       help="instead of the stages: `retention evaluate`'s difference-in-differences on N simulated "
                            "panels of each world with a planted change and without one (seeds --seed onwards; "
                            "--accounts per panel, default each world's): bias, how often its 95%% intervals held "
                            "the truth, how often it said a change that did nothing worked")
    bench.add_argument("--growth", type=Path, nargs="+", metavar="JSONL",
                       help="instead of running: how each build stage grew between earlier runs' --out files, "
                            "given smallest first (e.g. S.jsonl M.jsonl L.jsonl), against their input rows")
    bench.set_defaults(func=run_bench_command)
    return bench


def summary_path(out: Path) -> Path:
    """Where --out PATH puts the summary table: PATH with suffix .md (never PATH itself)."""
    return out.with_name(out.name + ".summary.md") if out.suffix == ".md" else out.with_suffix(".md")


def run_bench_command(args: argparse.Namespace) -> int:
    if args.growth:
        return _print_growth(args.growth)
    if args.accounts is not None and args.accounts < 1:
        print("error: --accounts must be at least 1", file=sys.stderr)
        return 2
    if args.repeats < 1 or args.cox_sample < 1:
        print("error: --repeats and --cox-sample must be at least 1", file=sys.stderr)
        return 2
    if args.accounts is not None:
        plan = BenchPlan("custom", args.accounts, args.file_format or "csv", args.workdir)
    else:
        scale = SCALES[args.scale]
        plan = BenchPlan(scale.label, scale.n_accounts, args.file_format or scale.file_format, args.workdir)
    plan.repeats, plan.seed = args.repeats, args.seed
    plan.cox_sample, plan.regenerate = args.cox_sample, args.regenerate
    if args.users is not None:
        return _run_load_command(plan, args)
    if args.forecast_worlds is not None:
        return _run_forecast_worlds(args)
    if args.change_worlds is not None:
        return _run_change_worlds(args)

    out = None
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        out = args.out.open("w", encoding="utf-8")
    figures: list[dict] = []

    def emit(figure: dict) -> None:
        figures.append(figure)
        line = json.dumps(figure, default=float)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    started_at = datetime.now(timezone.utc)
    started = time.perf_counter()
    print(f"Benchmark at scale {plan.scale}: {plan.n_accounts:,} accounts ({plan.file_format}) in {plan.data_dir}",
          file=sys.stderr, flush=True)
    try:
        errors = run_bench(plan, emit)
    finally:
        if out:
            out.close()
    command = "retention " + " ".join(sys.argv[1:]) if Path(sys.argv[0]).name == "retention" else (
        f"retention bench {'--scale ' + plan.scale if plan.scale != 'custom' else f'--accounts {plan.n_accounts}'} "
        f"--repeats {plan.repeats}")
    summary = summary_markdown(plan, figures, errors, command, started_at, time.perf_counter() - started)
    print("\n" + summary)
    if args.out:
        summary_path(args.out).write_text(summary + "\n", encoding="utf-8")
    return 1 if errors else 0


# The commands other than the stages import their modules when they run: every stage's child process imports this
# module, and would otherwise import the worlds, Playwright and the websocket client for nothing.


def _run_forecast_worlds(args: argparse.Namespace) -> int:
    from benchmarks.forecast_calibration import forecast_worlds

    if args.forecast_worlds < 1:
        print("error: --forecast-worlds must be at least 1", file=sys.stderr)
        return 2
    n_accounts = args.accounts or FORECAST_WORLD_ACCOUNTS
    print(f"Forecast backtest on {args.forecast_worlds} demo worlds of {n_accounts:,} accounts (seeds {args.seed} "
          f"onwards): 12 origins a month apart, 6 months ahead each", file=sys.stderr, flush=True)
    per_world, pooled = forecast_worlds(args.forecast_worlds, n_accounts, args.seed, args.workdir,
                                        progress=lambda message: print(message, file=sys.stderr, flush=True))
    for row in per_world.itertuples():
        print(json.dumps({"name": "forecast_world", "world_seed": int(row.world), "accounts": n_accounts,
                          "measure": row.measure, "in_80": row.in_80, "in_95": row.in_95, "error": row.error,
                          "naive_error": row.naive_error,
                          "sbg_error": None if math.isnan(row.sbg_error) else row.sbg_error}), flush=True)
    lines = [f"{'measure':<24}{'80% intervals held':>20}{'95% intervals held':>20}{'error at 6 months':>20}"
             f"{'naive baseline':>16}{'sBG per cohort':>16}{'worlds: 80% held, range':>26}"]
    for row in pooled.itertuples():
        own = per_world[per_world.measure == row.measure].in_80
        print(json.dumps({"name": "forecast_worlds", "worlds": args.forecast_worlds, "accounts": n_accounts,
                          "measure": row.measure, "in_80": row.in_80, "in_95": row.in_95, "error": row.error,
                          "naive_error": row.naive_error, "sbg_error": None if math.isnan(row.sbg_error) else row.sbg_error,
                          "error_ratio": row.error / row.naive_error}), flush=True)
        sbg = "—" if math.isnan(row.sbg_error) else f"{row.sbg_error:.1%}"
        lines.append(f"{row.measure:<24}{row.in_80:>20.1%}{row.in_95:>20.1%}{row.error:>20.1%}"
                     f"{row.naive_error:>16.1%}{sbg:>16}{f'{own.min():.0%}–{own.max():.0%}':>26}")
    print("\n" + "\n".join(lines))
    print("note: pooled over every world's months; one world's origins share its history, so its own shares range "
          "widely by chance")
    return 0


def _run_change_worlds(args: argparse.Namespace) -> int:
    from benchmarks.change_worlds import (CHANGE_WORLDS, COVERAGE_RANGE, FALSE_WORKED_LIMIT, change_worlds,
                                          missed_targets, with_accounts)

    if args.change_worlds < 1:
        print("error: --change-worlds must be at least 1", file=sys.stderr)
        return 2
    worlds = with_accounts(CHANGE_WORLDS, args.accounts) if args.accounts else CHANGE_WORLDS
    print(f"A change's effect on {args.change_worlds} simulated panels of each of {len(worlds)} worlds (seeds "
          f"{args.seed} onwards)", file=sys.stderr, flush=True)
    started = time.perf_counter()

    def emit(row: dict) -> None:
        print(json.dumps({"name": "change_world", **{k: None if isinstance(v, float) and math.isnan(v) else v
                                                     for k, v in row.items()}}, default=float), flush=True)

    table = change_worlds(args.change_worlds, worlds, args.seed,
                          progress=lambda message: print(message, file=sys.stderr, flush=True), on_world=emit)
    seconds = time.perf_counter() - started

    def shown(value: float, form: str) -> str:
        return "—" if math.isnan(value) else format(value, form)

    lines = [f"{'world':<15}{'ratio':>6}{'panels':>7}{'mean log':>9}{'bias % effect':>15}{'95% held':>10}"
             f"{'said it worked':>15}{'marginal log':>13}{'bias % marginal':>16}{'kept truth':>11}"
             f"{'kept bias %':>15}{'kept 95% held':>14}{'s a fit':>8}"]
    for row in table.itertuples():
        bias = f"{shown(row.bias_pct, '+.1f')} ± {shown(row.bias_pct_se, '.1f')}" if row.planted_ratio != 1 else (
            f"{row.bias_log:+.3f} log")
        kept_bias = (f"{shown(row.kept_bias_pct, '+.1f')} ± {shown(row.kept_bias_pct_se, '.1f')}"
                     if row.planted_ratio != 1 else f"{row.kept_bias:+.1f} acc.")
        lines.append(f"{row.world:<15}{row.planted_ratio:>6g}{row.panels:>7}{row.mean_log_estimate:>9.3f}{bias:>15}"
                     f"{row.coverage:>10.1%}{row.said_it_worked:>15.1%}{row.log_marginal_truth:>13.3f}"
                     f"{shown(row.bias_marginal_pct, '+.1f'):>16}{row.kept_truth:>11.1f}{kept_bias:>15}"
                     f"{row.kept_coverage:>14.1%}{row.seconds_per_fit:>8.2f}")
    print("\n" + "\n".join(lines))
    misses = missed_targets(table)
    print(f"\ntargets (a planted change: |bias| under 10% of the log effect, 95% intervals holding it "
          f"{COVERAGE_RANGE[0]:.0%}–{COVERAGE_RANGE[1]:.0%} of the time; none: \"it worked\" at most "
          f"{FALSE_WORKED_LIMIT:.1%}): " + ("all held" if not misses else "missed:\n  " + "\n  ".join(misses)))
    print(f"note: ± is the Monte Carlo standard error over the panels; {seconds / 60:.1f} minutes in all")
    return 0


def _load_database(plan: BenchPlan, emit) -> Path:
    """The scale's build for a load test: made once per demo data and reused (a load test reads it, never writes)."""
    paths = _demo_files(plan, emit)
    db_path = plan.data_dir / "load.duckdb"
    marker = plan.data_dir / "demo" / "bench_demo.json"
    if not db_path.exists() or db_path.stat().st_mtime < marker.stat().st_mtime:
        for figure in run_in_child("build", paths=paths, db_path=str(db_path), repeats=1):
            if figure["name"] == "build_total":
                emit({**figure, "scale": plan.scale})
    return db_path


def _run_load_command(plan: BenchPlan, args: argparse.Namespace) -> int:
    from benchmarks.load import LoadError, load_markdown, run_load
    from benchmarks.ws_load import run_websocket_load

    if args.users < 1 or args.seconds <= 0:
        print("error: --users must be at least 1 and --seconds above 0", file=sys.stderr)
        return 2

    def emit(figure: dict) -> None:
        print(json.dumps(figure, default=float), flush=True)

    plan.data_dir.mkdir(parents=True, exist_ok=True)
    client = args.client or ("browser" if args.users <= BROWSER_PEOPLE_DEFAULT_MAX else "websocket")
    print(f"Load test at scale {plan.scale}: {plan.n_accounts:,} accounts, {args.users} people for "
          f"{args.seconds:.0f} s, each a {client} client", file=sys.stderr, flush=True)
    try:
        db_path = _load_database(plan, emit)
        log_path = plan.data_dir / f"load-{args.users}-users-{client}-server.log"
        run = {"browser": run_load, "websocket": run_websocket_load}[client]
        result = run(db_path, args.users, args.seconds, log_path, seed=plan.seed,
                     progress=lambda text: print(text, file=sys.stderr, flush=True))
    except (StageError, LoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    figure = {**result.figure(), "scale": plan.scale, "accounts": plan.n_accounts, "server_log": str(log_path)}
    emit(figure)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a", encoding="utf-8") as out:
            out.write(json.dumps(figure, default=float) + "\n")
    print("\n" + load_markdown([figure]))
    print(f"\nclient: {client}. {LOAD_FIGURES_MEANING[client]}")
    return 1 if result.failures() else 0


def _print_growth(paths: list[Path]) -> int:
    if len(paths) < 2:
        print("error: --growth needs at least two runs' files, smallest first", file=sys.stderr)
        return 2
    runs = []
    for path in paths:
        try:
            runs.append([json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()])
        except (OSError, json.JSONDecodeError) as error:
            print(f"error: {path}: {error}", file=sys.stderr)
            return 2
    try:
        print(growth_markdown(runs))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str]) -> int:
    """`retention bench ARGS` runs `python -m benchmarks ARGS`: the same options, parsed here."""
    parser = argparse.ArgumentParser(prog="retention")
    add_bench_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", *argv])
    return args.func(args)
