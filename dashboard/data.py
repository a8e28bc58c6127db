"""Read-only access to the built database for the app: one cached connection, cached query results.

Query functions here are plain (connection in, DataFrame out) so tests call them without Streamlit;
the `cached_*` wrappers add Streamlit's cache keyed on the build id, so a rebuild (a new file swapped
in) refreshes every result while a rerun reads from the cache and never refits a model.
Filters are the sidebar's `COLUMN<op>VALUE` texts, turned into bound SQL by `pipelines.filters`.

Who may see what is dashboard.scope's: every query here that takes filters is wrapped by its `in_scope`, which
puts the signed-in person's scope before their own filters, and raw tables and account lists by its `requires`.
A database from another version of the tool is read by none of these: `schema_problem` says so first.
"""

from __future__ import annotations

import json
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import streamlit as st

from dashboard.scope import Filters, in_scope, requires
from pipelines.access import ACCOUNT_DOWNLOADS, RAW_TABLES
from pipelines import schema
from pipelines.settings import (APP_DRAW_ACCOUNTS, APP_REFIT_ACCOUNTS, DEMO_COMPARISON_DRAWS, RISK_LIST_MAX,
                                 database_path)
from pipelines.sqlrun import (TrustedSql, create_table_as, execute_template, file_fragment, query_text, quote_ident,
                              run_file, sql_text)
# the models are imported with the data layer, once per server process, so that no session's first render
# pays for importing them (scipy alone takes most of a second)
from pipelines.models.causal_structure import CausalStructure, recorded
from pipelines.models.calibration import overall_row, read_calibration
from pipelines.models.cause_effects import has_reasons, modelled_causes
from pipelines.models.cause_whatif import CauseWhatIf
from pipelines.models.competing_risks import CauseIncidence, NoChurnReasonsError
from pipelines.models.drivers import ServiceDrivers
from pipelines.models.factors import FACTORS, FACTORS_BY_NAME
from pipelines.filters import (FilterError, cell_columns, cells_answer, filter_predicate, filterable_columns,
                               parse_filters, resolve_column)
from pipelines.models.risk import current_rows
from pipelines.models.survival import KaplanMeier
from pipelines.models.factor_effects import whatif_model
from pipelines.models.forecast import (DAYS_PER_MONTH, RetentionForecast, change_difference, read_forecast,
                                       read_inputs, whatif_kept_shares)
from pipelines.models.whatif import WhatIf, case_mix_ranges
from pipelines.change_events import ChangeEvent, Rollout, events_beside, read_events
from pipelines.errors import InputError
from pipelines.models.change_evaluation import evaluate


def file_stamp(path: Path) -> tuple | None:
    """Identity of the file on disk: the atomic swap of a rebuild changes it."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def open_build(path: str) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the build file at `path`, in a DuckDB instance of its own.

    The obvious `duckdb.connect(path, read_only=True)` is not enough: DuckDB keeps one database instance per
    path per process, and while any connection to that path is open (a session still rendering on the
    previous build, or the cached connection itself), a new `connect` joins that instance and reads the
    file that was there before the rebuild's atomic rename. An in-memory instance that attaches the file
    opens whatever file the path names now; the previous build's instance keeps its own open file, so a
    reader mid-query on it is never broken. Views in the instance's own catalog make the build's tables
    visible to every cursor, whose default catalog is the in-memory one, not the attached file.
    """
    con = duckdb.connect(":memory:")
    try:
        con.execute(query_text("attach_build"), {"path": path})
        for (name,) in con.execute(query_text("attached_build_objects")).fetchall():
            execute_template(con, "attached_build_view", object_name=TrustedSql(quote_ident(name)))
    except BaseException:
        con.close()
        raise
    return con


class BuildInstance:
    """One build's DuckDB instance (see open_build), shared by every session and thread of the server.

    A DuckDB connection serves one call at a time: two sessions querying one connection at once fail ("connection
    is busy") or, worse, one is handed the other's result. So the instance's own connection runs no query; it only
    makes cursors (connections of their own to the same instance), one per thread (`connection()`), and making one
    is serialised by a lock. It is never closed by hand: closing it would close every cursor made from it, a page
    still rendering on the previous build among them. It is released when the cache drops it and the last cursor
    made from it is gone."""

    def __init__(self, root: duckdb.DuckDBPyConnection):
        self._root = root
        self._lock = threading.Lock()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            return self._root.cursor()


@st.cache_resource(max_entries=2, show_spinner=False)
def _open(path: str, stamp: tuple) -> BuildInstance:
    # keyed on the file's identity, so a rebuild opens the new file at the next rerun of every session;
    # the previous entry stays open for a run that is still reading it
    return BuildInstance(open_build(path))


# Each thread's cursor and the instance it belongs to. Streamlit runs a session's script on a thread of its own,
# so a cursor is never used by two threads at once; a thread that ends takes its cursor with it.
_thread_cursor = threading.local()


def connection() -> duckdb.DuckDBPyConnection | None:
    """This thread's read-only cursor on the current build, or None when no database exists yet.

    The same cursor for every call on the thread while the file is unchanged; a new one on the new build once a
    rebuild has swapped the file, while a cursor already handed out keeps reading the build it was made on."""
    path = database_path()
    stamp = file_stamp(path)
    if stamp is None:
        return None
    instance = _open(str(path), stamp)
    held = getattr(_thread_cursor, "held", None)
    if held is None or held[0] is not instance:
        held = (instance, instance.cursor())
        _thread_cursor.held = held
    return held[1]


def run(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> pd.DataFrame:
    from pipelines.sqlrun import run_query

    return run_query(con, sql, params or {}).df()


# --- the build ---------------------------------------------------------------------------------

def schema_problem(con: duckdb.DuckDBPyConnection) -> str | None:
    """Why this version of the app cannot read the build (another version of the tool made it), or None. Asked
    before anything else is read: nothing here falls back for the tables an older build lacks."""
    return schema.schema_problem(con)


def build_info(con: duckdb.DuckDBPyConnection) -> dict:
    row = run(con, query_text("build_info")).iloc[0].to_dict()
    for key in ("settings_json", "inputs_json", "row_counts_json", "warnings_json"):
        row[key.removesuffix("_json")] = json.loads(row.pop(key))
    row["as_of_date"] = pd.Timestamp(row["as_of_date"]).date()
    return row


def model_info(con: duckdb.DuckDBPyConnection, model: str) -> dict | None:
    rows = con.execute(query_text("model_info"), {"model": model}).fetchall()
    return json.loads(rows[0][0]) if rows else None


def segment_columns(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return run(con, query_text("segment_column_kinds"))


def segment_levels(con: duckdb.DuckDBPyConnection, column: str) -> list[str]:
    """Distinct values of one segment column among the person's accounts (the name is checked against the
    allow-list first): a csm's sidebar offers no other csm's name."""
    col = resolve_column(column, filterable_columns(con))
    with selected_accounts(con, ()) as cur:
        levels = execute_template(cur, "segment_levels", column=col.sql).df()["level"].tolist()
    return [v for v in levels if v is not None]


def numeric_range(con: duckdb.DuckDBPyConnection, column: str) -> tuple[float | None, float | None, bool]:
    """(smallest, largest, every value whole) of one numeric column among the person's accounts (the name checked
    against the allow-list first): the span of the sidebar's range for it. (None, None, True) when none has a value."""
    col = resolve_column(column, filterable_columns(con))
    if col.kind != "numeric":
        raise FilterError(f"column {column!r} is {col.kind}, not numeric: it has no range of numbers")
    with selected_accounts(con, ()) as cur:
        low, high, whole = execute_template(cur, "numeric_range", column=col.sql).fetchone()
    return low, high, bool(whole)


def cohort_range(con: duckdb.DuckDBPyConnection) -> tuple:
    """First and last signup cohort month among the person's accounts."""
    with selected_accounts(con, ()) as cur:
        row = execute_template(cur, "cohort_range").fetchone()
    return row[0], row[1]


# --- filtered subsets ----------------------------------------------------------------------------

@in_scope
@contextmanager
def selected_accounts(con: duckdb.DuckDBPyConnection, filters: Filters):
    """A cursor on which `analysis_accounts` is the filtered subset, so the marts' own SQL runs on it."""
    cursor = con.cursor()
    try:
        if filters:
            predicate, params = filter_predicate(parse_filters(list(filters), filterable_columns(cursor)))
            execute_template(cursor, "select_analysis_accounts", params, predicate=predicate)
        yield cursor
    finally:
        cursor.close()


@in_scope
def account_count(con: duckdb.DuckDBPyConnection, filters: Filters) -> int:
    with selected_accounts(con, filters) as cur:
        return cur.execute(query_text("analysis_account_count")).fetchone()[0]


def _at_build_as_of(con: duckdb.DuckDBPyConnection, as_of) -> bool:
    """`as_of` is the build's own: what the build stored was computed at it."""
    return con.execute(query_text("km_as_of")).fetchall()[0][0] == as_of  # build_info: one row


def _is_whole_build(con: duckdb.DuckDBPyConnection, filters: Filters, as_of) -> bool:
    """No filters at the build's own as-of: the marts the build stored are the answer."""
    return not filters and _at_build_as_of(con, as_of)


@in_scope
def kpi_monthly(con: duckdb.DuckDBPyConnection, filters: Filters, as_of) -> pd.DataFrame:
    if _is_whole_build(con, filters, as_of):  # the build ran the same mart on every account: read it
        return run(con, query_text("kpi_monthly_all_accounts"))
    with selected_cells(con, filters, as_of, "kpi_monthly_cells") as cur:
        return run(cur, sql_text("40_marts", "kpi_monthly"), {"as_of": as_of})


@in_scope
def kpi_monthly_causes(con: duckdb.DuckDBPyConnection, filters: Filters, as_of) -> pd.DataFrame:
    """Each month's churned accounts and churned MRR per churn cause (kpi_monthly_causes.sql)."""
    if _is_whole_build(con, filters, as_of):
        return run(con, query_text("kpi_monthly_causes_all_accounts"))
    with selected_cells(con, filters, as_of, "kpi_monthly_cells") as cur:
        return run(cur, sql_text("40_marts", "kpi_monthly_causes"))


@in_scope
def cohort_retention(con: duckdb.DuckDBPyConnection, filters: Filters, as_of) -> pd.DataFrame:
    if _is_whole_build(con, filters, as_of):
        return run(con, query_text("cohort_retention_all_accounts"))
    with selected_cells(con, filters, as_of, "cohort_retention_cells") as cur:
        return run(cur, sql_text("40_marts", "cohort_retention"), {"as_of": as_of})


@in_scope
def headline_kpis(con: duckdb.DuckDBPyConnection, filters: Filters, as_of) -> pd.DataFrame:
    with selected_cells(con, filters, as_of, "headline_kpis_cells") as cur:
        return run(cur, query_text("headline_kpis"), {"as_of": as_of}).set_index("period")


@in_scope
@contextmanager
def selected_cells(con: duckdb.DuckDBPyConnection, filters: Filters, as_of, sums: str):
    """A cursor on which `analysis_cells` are the filtered accounts' segment cells and `sums` (a *_cells mart of
    the build) holds their sums, so the mart that adds them up runs on it. Where every filter compares a column the
    build's cells are made of, at the build's as-of, that is a lookup: the cells the filters select, with the sums
    the build stored. Otherwise (a numeric segment, the signup year, another as-of) the filtered accounts are
    counted, as one cell of their own."""
    with con.cursor() as cursor:
        parsed = parse_filters(list(filters), filterable_columns(cursor))
        if cells_answer(parsed, cell_columns(cursor)) and _at_build_as_of(cursor, as_of):
            predicate, params = filter_predicate(parsed)
            execute_template(cursor, "select_analysis_cells", params, predicate=predicate)
            yield cursor
            return
    with selected_accounts(con, filters) as cursor:
        run_file(cursor, "queries", "subset_account_cells")
        run_file(cursor, "queries", "subset_analysis_cells")
        create_table_as(cursor, sums, file_fragment("40_marts", sums), {"as_of": as_of}, temporary=True)
        yield cursor


# --- models ------------------------------------------------------------------------------------

@in_scope
def survival(con: duckdb.DuckDBPyConnection, by: str | None, filters: Filters):
    return KaplanMeier(by=by, filters=list(filters)).fit(con)


@in_scope
def cause_incidence(con: duckdb.DuckDBPyConnection, by: str | None, filters: Filters) -> CauseIncidence | None:
    """Each churn cause's cumulative incidence among the filtered accounts, overall or by `by`; None when no churned
    account among them has a churn reason (the page says so, rather than draw one curve of "unknown" churn)."""
    try:
        return CauseIncidence(by=by, filters=list(filters)).fit(con)
    except NoChurnReasonsError:
        return None


@in_scope
def driver_effects(con: duckdb.DuckDBPyConnection, filters: Filters,
                   start_from: dict[str, float] | None = None) -> tuple[pd.DataFrame, dict | None]:
    """The build's stored fit; with filters, a fit on the filtered accounts (cached by the caller).

    `start_from`, the build's coefficients by term, only changes where Newton starts: the filtered fit
    reaches the same optimum as one started from zero, in about half the steps."""
    if not filters:
        return run(con, query_text("driver_effects")), model_info(con, "service_drivers")
    drivers = ServiceDrivers(filters=list(filters), start_from=start_from, max_accounts=APP_REFIT_ACCOUNTS).fit(con)
    return drivers.effects_, drivers.model_info_


def drivers_fit(con: duckdb.DuckDBPyConnection, build_id: str, filters: Filters,
                refit: bool) -> tuple[pd.DataFrame, dict | None]:
    """The mutually adjusted drivers model the drivers page shows: with `refit`, the exact fit on the filtered
    accounts (the person's scope and filters; a ValueError when it cannot be fitted), else the build's stored fit
    on every account, whoever asks (model terms, not account rows, as with each factor's own model)."""
    if refit:
        return cached_drivers(con, build_id, filters)
    return cached_stored_drivers(con, build_id)


def findings_effects(con: duckdb.DuckDBPyConnection, build_id: str, filters: Filters, refit: bool) -> pd.DataFrame:
    """The effects the overview's findings come from: each factor's own model as the build stored it (every
    account: the filters do not apply to it), or, with `refit` and filters, the mutually adjusted model refitted
    on the filtered accounts (a ValueError when it cannot be fitted)."""
    if refit and filters:
        return cached_drivers(con, build_id, filters)[0]
    return cached_factor_effects(con, build_id)[0]


@in_scope
def churn_by_quartile(con: duckdb.DuckDBPyConnection, factor: str, filters: Filters) -> pd.DataFrame:
    """Monthly churn rate of account-months by quartile of one factor's panel measure."""
    column = TrustedSql(quote_ident(FACTORS_BY_NAME[factor].column))  # from the factor allow-list
    with selected_accounts(con, filters) as cur:
        return execute_template(cur, "churn_by_factor_quartile", measure=column).df()


@in_scope
def forecast(con: duckdb.DuckDBPyConnection, filters: Filters) -> tuple[pd.DataFrame, dict | None]:
    """Where the selected accounts are heading (forecast_series rows) and how the forecast was made: the build's
    stored forecast of every account, or with filters one made now on the matching accounts (seconds at scale)."""
    if not filters:
        return read_forecast(con), model_info(con, "forecast")
    inputs = read_inputs(con, list(filters))
    fitted = RetentionForecast().fit(inputs.accounts, inputs.as_of, inputs.mrr)
    return fitted.frame(), fitted.info()


# --- cached wrappers (Streamlit) -----------------------------------------------------------------

@in_scope
@st.cache_data(show_spinner=False, max_entries=64)
def cached_kpis(_con, build_id: str, filters: Filters, as_of) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return headline_kpis(_con, filters, as_of), kpi_monthly(_con, filters, as_of), cohort_retention(_con, filters, as_of)


@in_scope
@st.cache_data(show_spinner=False, max_entries=64)
def cached_kpi_causes(_con, build_id: str, filters: Filters, as_of) -> pd.DataFrame:
    return kpi_monthly_causes(_con, filters, as_of)


@in_scope
@st.cache_data(show_spinner=False, max_entries=64)
def cached_survival(_con, build_id: str, by: str | None, filters: Filters):
    return survival(_con, by, filters)


@in_scope
@st.cache_data(show_spinner=False, max_entries=64)
def cached_cause_incidence(_con, build_id: str, by: str | None, filters: Filters) -> CauseIncidence | None:
    return cause_incidence(_con, by, filters)


@in_scope
@st.cache_data(show_spinner="Fitting the drivers model on the filtered accounts…", max_entries=32)
def cached_drivers(_con, build_id: str, filters: Filters):
    stored = _stored_drivers(_con, build_id) if filters else None
    return driver_effects(_con, filters, None if stored is None else stored.model_.params_.to_dict())


@st.cache_data(show_spinner=False, max_entries=4)
def cached_stored_drivers(_con, build_id: str) -> tuple[pd.DataFrame, dict | None]:
    """The drivers model the build fitted on every account and stored: no refit, whatever the scope."""
    return run(_con, query_text("driver_effects")), model_info(_con, "service_drivers")


@in_scope
@st.cache_data(show_spinner=False, max_entries=64)
def cached_quartiles(_con, build_id: str, factor: str, filters: Filters) -> pd.DataFrame:
    return churn_by_quartile(_con, factor, filters)


@in_scope
@st.cache_data(show_spinner=False, max_entries=64)
def cached_segment_levels(_con, build_id: str, column: str, filters: Filters) -> list[str]:
    """The sidebar's levels of one segment, read once per build and scope (`filters` is the scope: the key of
    one person's levels is never another's)."""
    return segment_levels(_con, column)


@in_scope
@st.cache_data(show_spinner=False, max_entries=64)
def cached_numeric_range(_con, build_id: str, column: str, filters: Filters) -> tuple:
    """numeric_range, once per build and scope (as cached_segment_levels)."""
    return numeric_range(_con, column)


@in_scope
@st.cache_data(show_spinner=False, max_entries=16)
def cached_cohort_range(_con, build_id: str, filters: Filters) -> tuple:
    """cohort_range, once per build and scope (as cached_segment_levels)."""
    return cohort_range(_con)


@requires(RAW_TABLES)
@st.cache_data(show_spinner=False, max_entries=8)
def cached_table(_con, build_id: str, sql_name: str) -> pd.DataFrame:
    return run(_con, query_text(sql_name))


# --- what-if and risk ----------------------------------------------------------------------------

@st.cache_resource(max_entries=2, show_spinner="Loading the drivers model…")
def _stored_drivers(_con, build_id: str):
    """The drivers model the build stored, or None when it could fit none.

    Shared by every session and thread: nothing reads it but to predict and to start a refit from its
    coefficients, and neither writes to it (the stored model's baseline is handed out as a copy)."""
    return ServiceDrivers.from_database(_con)


@st.cache_resource(max_entries=16, show_spinner="Fitting the model of the changed factors and their confounders…")
def _whatif_model(_con, build_id: str, factors: tuple[str, ...]):
    """The model a what-if predicts with: one factor's own model as the build stored it, or, for several
    factors, one fitted once per build and set of factors (the targets then move without a refit).

    Shared as _stored_drivers is: a what-if predicts with it and never writes to it, and it keeps no cursor."""
    return whatif_model(_con, list(factors))


@in_scope
def selected_account_ids(con: duckdb.DuckDBPyConnection, filters: Filters) -> list[str] | None:
    if not filters:
        return None
    with selected_accounts(con, filters) as cur:
        return [r[0] for r in cur.execute(query_text("analysis_account_ids")).fetchall()]


@st.cache_resource(show_spinner=False, max_entries=2)
def _current_rows(_con, build_id: str) -> pd.DataFrame:
    """The active accounts' latest panel rows as the build stored them, read once per build and shared, not copied:
    a slider move or a filter change subsets them (WhatIf.fit never modifies them). A resource, not data: the
    data cache would pickle and unpickle hundreds of thousands of rows on every what-if at a million accounts."""
    return current_rows(_con, stored=True)


@st.cache_data(show_spinner=False, max_entries=32)
def _case_mix_ranges(_con, build_id: str, column: str) -> pd.DataFrame:
    """A measure's range per case-mix cell over every account-month, read once per build: a what-if checks its
    changed values against it on every slider move and filter change."""
    return case_mix_ranges(_con, column)


def _overlap_ranges(_con, build_id: str, changes: tuple[tuple[str, str], ...]) -> dict[str, pd.DataFrame]:
    """The case-mix ranges a what-if checks each changed measure against, keyed by its panel column."""
    return {FACTORS_BY_NAME[f].column: _case_mix_ranges(_con, build_id, FACTORS_BY_NAME[f].column) for f, _ in changes}


@in_scope
@st.cache_data(show_spinner="Estimating…", max_entries=64)
def cached_whatif(_con, build_id: str, changes: tuple[tuple[str, str], ...], horizon_days: int, filters: Filters):
    # the interval's draws run on a seeded sample of accounts (the notes say so), which keeps a slider move
    # interactive; the estimate itself uses every account
    whatif = WhatIf(changes=list(changes), horizon_days=horizon_days, max_draw_accounts=APP_DRAW_ACCOUNTS).fit(
        _con, drivers=_whatif_model(_con, build_id, tuple(sorted(f for f, _ in changes))),
        account_ids=selected_account_ids(_con, filters),
        # a shallow copy per what-if: the rows' data is shared, but pandas caches the columns it hands out in the
        # frame object itself, which two threads would then write at once
        rows=_current_rows(_con, build_id).copy(deep=False),
        overlap_ranges=_overlap_ranges(_con, build_id, changes))
    result = whatif.to_json_dict()
    # the interval's draws themselves, so the forecast can carry the change with its uncertainty
    result["accounts_kept_draws"] = whatif.draws_.accounts_kept.to_numpy(float).tolist()
    factors = sorted({f for f, _ in changes})
    stored = _calibration(_con, build_id, factors[0]) if len(factors) == 1 else pd.DataFrame()
    result["calibration"] = overall_row(stored, horizon_days)
    result["filtered"] = bool(filters)
    if filters:
        result["notes"].append("the effects come from the drivers model fitted on every account of the build, "
                               "applied here to the selected accounts only: a subset (a filter, or a csm's book) "
                               "has too few churns to estimate them on its own")
    return result


@in_scope
@st.cache_data(show_spinner="Running the what-if for each churn cause…", max_entries=64)
def cached_cause_whatif(_con, build_id: str, changes: tuple[tuple[str, str], ...], horizon_days: int,
                        filters: Filters) -> dict | None:
    """The what-if of cached_whatif moved through each churn cause's own model (CauseWhatIf), on the same accounts,
    rows and draw sample: the total and what each cause keeps, with intervals; None when the build modelled no
    cause (no churn reasons, or too few churns of any cause). A ValueError when a cause's model cannot be fitted."""
    if not modelled_causes(_con):
        return None
    whatif = CauseWhatIf(changes=list(changes), horizon_days=horizon_days, max_draw_accounts=APP_DRAW_ACCOUNTS).fit(
        _con, account_ids=selected_account_ids(_con, filters),
        # one shallow copy for the causes' what-ifs, which run one after another on this thread (see cached_whatif)
        rows=_current_rows(_con, build_id).copy(deep=False),
        overlap_ranges=_overlap_ranges(_con, build_id, changes))
    result = whatif.to_json_dict()
    # each cause alone is the model's working, not the case: the page and the summary show the causes competing
    result.pop("each_cause_alone", None)
    result["filtered"] = bool(filters)
    if filters:
        result["notes"].append("each cause's model comes from every account of the build, applied here to the "
                               "selected accounts only: a subset has too few churns of each cause to estimate it on "
                               "its own")
    return result


@st.cache_data(show_spinner=False, max_entries=8)
def cached_levers(_con, build_id: str) -> pd.DataFrame:
    """Each service factor's lever as the build stored it (every active account)."""
    return run(_con, query_text("whatif_levers_all"))


@st.cache_data(show_spinner=False, max_entries=64)
def _calibration(_con, build_id: str, model: str) -> pd.DataFrame:
    """The build's time-split check of one stored model ("risk", or a what-if's factor), every horizon."""
    return read_calibration(_con, model)


@in_scope
@st.cache_data(show_spinner=False, max_entries=64)
def cached_risk(_con, build_id: str, filters: Filters) -> tuple[dict, pd.DataFrame, pd.DataFrame, dict | None]:
    """Totals over the selection's scored accounts, its RISK_LIST_MAX riskiest, the calibration table and the
    model's info. Only the listed rows come into memory: at a million accounts the whole list is most of a second
    to read and to cache, and the page shows a few hundred."""
    calibration = _calibration(_con, build_id, "risk")
    with selected_accounts(_con, filters) as cur:  # one filtered selection for the totals and the list
        totals = run(cur, query_text("at_risk_totals")).to_dict("records")[0]
        riskiest = run(cur, query_text("at_risk_accounts"), {"limit": RISK_LIST_MAX})
    return totals, riskiest, calibration, model_info(_con, "risk")


@requires(ACCOUNT_DOWNLOADS)
@in_scope
def risk_csv(con: duckdb.DuckDBPyConnection, filters: Filters) -> bytes:
    """Every scored account of the selection as CSV, riskiest first. DuckDB writes it: pandas takes several times
    longer for the hundreds of thousands of rows of a large book. Not cached: the page makes it when its button is
    clicked (`risk_csv.captured`), and a large book's file is hundreds of megabytes."""
    with selected_accounts(con, filters) as cur, tempfile.TemporaryDirectory(prefix="retention-export-") as folder:
        path = Path(folder) / "account_risk.csv"
        execute_template(cur, "copy_to_csv", {"path": str(path), "limit": None},
                         query=file_fragment("queries", "at_risk_accounts"))
        return path.read_bytes()


@st.cache_data(show_spinner=False, max_entries=4)
def cached_factor_effects(_con, build_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each factor's own adjusted model and its stability table, as the build stored them (empty when it could
    fit none)."""
    return run(_con, query_text("factor_effects")), run(_con, query_text("factor_stability"))


@st.cache_data(show_spinner=False, max_entries=4)
def cached_factor_orderings(_con, build_id: str) -> pd.DataFrame:
    """The own-model effects of each pair whose order is uncertain, under both orders (empty for a structure that
    names no such pair)."""
    return run(_con, query_text("factor_orderings"))


def causal_structure(con: duckdb.DuckDBPyConnection) -> CausalStructure:
    """The causal structure the build's factor models used."""
    return recorded(model_info(con, "factor_effects"))


@st.cache_data(show_spinner=False, max_entries=4)
def cached_factor_revenue_effects(_con, build_id: str) -> pd.DataFrame:
    """Each factor's adjusted effect on next month's expansion and contraction, as the build stored it."""
    return run(_con, query_text("factor_revenue_effects"))


@st.cache_data(show_spinner="Comparing the naive and the adjusted investment case with the demo's truth…",
               max_entries=2)
def cached_demo_investment_comparison(_con, build_id: str, horizon_days: int) -> tuple[dict, dict]:
    """The what-if of halving first response two ways: naive (the all-in-one model without case mix, which
    holds the change's consequences fixed) and adjusted (the factor's own model)."""
    change = [("first_response_hours", "-50%")]
    naive_model = ServiceDrivers(factors=[f.name for f in FACTORS if f.pillar != "case mix"]).fit(_con)
    naive = WhatIf(change, horizon_days=horizon_days, n_draws=DEMO_COMPARISON_DRAWS).fit(_con, drivers=naive_model)
    adjusted = WhatIf(change, horizon_days=horizon_days, n_draws=DEMO_COMPARISON_DRAWS).fit(_con)
    return naive.to_json_dict(), adjusted.to_json_dict()


@in_scope
@st.cache_data(show_spinner=False, max_entries=64)
def cached_cause_risk(_con, build_id: str, filters: Filters) -> tuple[list[str], pd.DataFrame]:
    """The churn causes the build gave each active account a probability of (most churn first; none when its data
    give no churn reasons) and, for the accounts cached_risk lists (the selection's RISK_LIST_MAX riskiest), each
    cause's probability of churning from it in the next 90 days (account_id, churn_cause, churn_probability_90d)."""
    causes = list((model_info(_con, "cause_risk") or {}).get("causes", []))
    if not causes:
        return [], pd.DataFrame({"account_id": [], "churn_cause": [], "churn_probability_90d": []})
    with selected_accounts(_con, filters) as cur:
        return causes, run(cur, query_text("at_risk_cause_probabilities"), {"limit": RISK_LIST_MAX})


# --- churn by cause ------------------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=4)
def build_has_churn_reasons(_con, build_id: str) -> bool:
    """Whether some churned account of the build counts under a cause other than unknown: the accounts file gave
    churn reasons. Asked of the whole build, whoever asks: a book or a filter with no reason among its churns is
    still split by cause (all of it unknown), where a build without reasons is not split at all."""
    return has_reasons(run(_con, query_text("churn_cause_counts")))


@st.cache_data(show_spinner=False, max_entries=4)
def cached_cause_factor_effects(_con, build_id: str) -> pd.DataFrame:
    """Each factor's own model of churn from each cause, as the build stored it (every account; empty when the
    build modelled no cause)."""
    return run(_con, query_text("cause_factor_effects"))


@st.cache_data(show_spinner=False, max_entries=4)
def cached_cause_driver_effects(_con, build_id: str) -> pd.DataFrame:
    """Each cause's mutually adjusted drivers model, as the build stored it (empty when it modelled no cause)."""
    return run(_con, query_text("cause_driver_effects"))


@in_scope
@st.cache_data(show_spinner="Forecasting the selected accounts…", max_entries=32)
def cached_forecast(_con, build_id: str, filters: Filters) -> tuple[pd.DataFrame, dict | None]:
    """forecast, once per build and selection."""
    return forecast(_con, filters)


@in_scope
@st.cache_data(show_spinner="Forecasting the next 12 months with and without the change…", max_entries=32)
def cached_forecast_with_change(_con, build_id: str, changes: tuple[tuple[str, str], ...], horizon_days: int,
                                filters: Filters) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """The selected accounts' forecast with the what-if's change (each draw's hazards scaled so that today's accounts
    keep a draw of the share of their churn over the what-if's horizon the what-if keeps), what the change adds to
    the forecast without it, draw by draw, the forecast without it, and how that was made."""
    whatif = cached_whatif(_con, build_id, changes, horizon_days, filters)
    share = whatif_kept_shares(np.asarray(whatif["accounts_kept_draws"]), whatif["baseline"]["expected_churned_accounts"])
    inputs = read_inputs(_con, list(filters))
    without = RetentionForecast().fit(inputs.accounts, inputs.as_of, inputs.mrr)
    with_change = RetentionForecast(kept_share=share, kept_months=max(1, round(horizon_days / DAYS_PER_MONTH))).fit(
        inputs.accounts, inputs.as_of, inputs.mrr)
    return with_change.frame(), change_difference(with_change, without), without.frame(), without.info()


# --- evaluating a past change ---------------------------------------------------------------------

def recorded_events(info: dict) -> tuple[list[ChangeEvent], str | None]:
    """The changes recorded in the events file beside the accounts file the build read (`retention demo` writes
    one), and what is wrong with that file when it cannot be read; none when there is no such file."""
    accounts = next((i for i in info.get("inputs", []) if i["source"] == "accounts"), None)
    if accounts is None or not events_beside(accounts["path"]).exists():
        return [], None
    try:
        return read_events(events_beside(accounts["path"])), None
    except InputError as error:
        return [], str(error)


def recorded_change_dates(info: dict) -> pd.DataFrame:
    """Each step of each recorded change as the trend charts mark it (name, date); empty without an events file or
    with one that cannot be read (the Evaluate a change page says what is wrong with it)."""
    events, _ = recorded_events(info)
    return pd.DataFrame([{"name": event.name if len(event.rollouts) == 1 else
                          f"{event.name}: {' and '.join(step.treated)}", "date": step.start}
                         for event in events for step in event.rollouts], columns=["name", "date"])


@in_scope
@st.cache_data(show_spinner="Evaluating the change: fitting its design and the drivers model's expectation…",
               max_entries=32)
def cached_change_evaluation(_con, build_id: str, name: str, rollouts: tuple[tuple[str, tuple[str, ...]], ...],
                             design: str, filters: Filters) -> dict:
    """The evaluation of a change (`rollouts`: each step's date, YYYY-MM-DD, and the filters of the accounts it
    reached) among the selected accounts, once per build, change and selection."""
    event = ChangeEvent(name, tuple(Rollout(pd.Timestamp(start).date(), treated) for start, treated in rollouts))
    return evaluate(_con, event, design, account_ids=selected_account_ids(_con, filters))
