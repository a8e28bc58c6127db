"""What the build fills from Python rather than SQL alone: the tables whose header says `made by: settings` or
`made by: segments`, and the template slots of the files whose columns depend on the inputs (the accounts file's
extra columns, the segments the app's sidebar filters by). All run on DuckDB."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from .churn_reasons import ChurnReasons
from .contract import INTERACTIONS
from .errors import InputError
from .filters import cell_columns
from .load import LoadedFile, text_or_null
from .sqlrun import TrustedSql, execute_template, identifier, insert_rows, quote_ident, row_count, run_file


@dataclass
class Filling:
    """What the build's Python fills tables and slots from: the connection, the settings' SLA targets, the inputs
    read (by source) and whether a monthly MRR file was given."""

    con: duckdb.DuckDBPyConnection
    sla_hours: dict[str, float] = field(default_factory=dict)
    loaded: dict[str, LoadedFile] = field(default_factory=dict)
    has_mrr_history: bool = False
    churn_reasons: ChurnReasons = field(default_factory=ChurnReasons)
    _segment_kinds: dict[str, str] | None = None

    def segment_kinds(self) -> dict[str, str]:
        """Each extra accounts column: 'numeric' if every value of a staged account reads as a number, else
        'categorical' (worked out once: stg_account_segments and segment_columns both use it)."""
        if self._segment_kinds is None:
            self._segment_kinds = {}
            for name, header in self.loaded["accounts"].segments.items():
                non_empty, numeric = execute_template(self.con, "segment_value_kinds",
                                                      value=_clean(header)).fetchall()[0]
                self._segment_kinds[name] = "numeric" if non_empty > 0 and numeric == non_empty else "categorical"
        return self._segment_kinds


def _clean(header: str) -> TrustedSql:
    """An accounts file column's cleaned text (NULL for "no value"), read from raw_accounts as r."""
    return TrustedSql(text_or_null(f"r.{quote_ident(header)}"))


# --- made by: settings ---------------------------------------------------------------------------


def _sla_target_hours(filling: Filling) -> pd.DataFrame:
    return pd.DataFrame({"severity": list(filling.sla_hours),
                         "target_hours": [float(v) for v in filling.sla_hours.values()]})


def _interaction_columns_available(filling: Filling) -> pd.DataFrame:
    present = set(filling.loaded["interactions"].mapped) if "interactions" in filling.loaded else set()
    has = {name: name in present for name in INTERACTIONS.column_names}
    # "bad" needs at least one way to see it: a timed, graded first response, or a resolution with its grades
    can_detect_bad = (has["first_response_at"] and has["severity"]) or (
        has["resolved_at"] and (has["reopens"] or has["csat"] or has["handoffs"])
    )
    return pd.DataFrame([{**{f"has_{name}": has[name] for name in has}, "can_detect_bad": can_detect_bad}])


def _churn_reason_causes(filling: Filling) -> pd.DataFrame:
    return pd.DataFrame(filling.churn_reasons.rows(), columns=["reason_key", "cause"])


def _revenue_basis(filling: Filling) -> pd.DataFrame:
    return pd.DataFrame({"revenue_basis": ["mrr_history" if filling.has_mrr_history else "flat_mrr"]})


SETTINGS_TABLES = {
    "sla_target_hours": _sla_target_hours,
    "interaction_columns_available": _interaction_columns_available,
    "revenue_basis": _revenue_basis,
    "churn_reason_causes": _churn_reason_causes,
}


# --- made by: segments ---------------------------------------------------------------------------


def _segment_columns(filling: Filling) -> pd.DataFrame:
    segments = filling.loaded["accounts"].segments
    kinds = filling.segment_kinds()
    return pd.DataFrame(
        [{"column_name": name, "source_header": header, "kind": kinds[name],
          "n_levels": execute_template(filling.con, "distinct_values_count", table=identifier("stg_account_segments"),
                                       column=identifier(name)).fetchall()[0][0]}
         for name, header in segments.items()],
        columns=["column_name", "source_header", "kind", "n_levels"])


SEGMENTS_TABLES = {"segment_columns": _segment_columns}

# The rows of each table Python fills in the loop, by its header's `made by`
MAKERS = {"settings": SETTINGS_TABLES, "segments": SEGMENTS_TABLES}


def fill_table(filling: Filling, maker: str, layer_dir: str, name: str) -> None:
    """Create table `name` from its CREATE TABLE file and insert the rows its maker gives."""
    rows = MAKERS[maker][name](filling)
    run_file(filling.con, layer_dir, name)
    insert_rows(filling.con, name, rows)


# --- template slots ------------------------------------------------------------------------------


def _segment_values(filling: Filling) -> TrustedSql:
    """`, <value> as "<column>"` per extra accounts column: its cleaned text, or a number when every value is one."""
    kinds = filling.segment_kinds()
    return TrustedSql("".join(
        f", {f'try_cast({_clean(header).text} as double)' if kinds[name] == 'numeric' else _clean(header).text}"
        f" as {quote_ident(name)}" for name, header in filling.loaded["accounts"].segments.items()))


def _cell_columns(filling: Filling) -> TrustedSql:
    """The columns the app's sidebar filters by (filters.cell_columns), listed; null when there are none."""
    return TrustedSql(", ".join(quote_ident(c) for c in cell_columns(filling.con)) or "null")


def _cell_values(filling: Filling) -> TrustedSql:
    return TrustedSql("".join(f", s.{quote_ident(c)}" for c in cell_columns(filling.con)))


SLOTS = {"segment_values": _segment_values, "cell_columns": _cell_columns, "cell_values": _cell_values}


def slot_values(filling: Filling, slots: tuple[str, ...]) -> dict[str, TrustedSql]:
    return {slot: SLOTS[slot](filling) for slot in slots}


# --- checks --------------------------------------------------------------------------------------

# Once these tables are made, a build with no usable account stops, saying why from the rejects
USABLE_ACCOUNTS_QUERY = "account_reject_examples"


def require_accounts(con: duckdb.DuckDBPyConnection, accounts_path: Path | str, loaded: LoadedFile) -> None:
    """InputError naming the first rejected rows when no account was staged."""
    if row_count(con, "stg_accounts"):
        return
    reasons = run_file(con, "queries", USABLE_ACCOUNTS_QUERY).fetchall()

    def where(row: int, file: str, file_row: int) -> str:  # a row of one of several files: its file and row there
        return f"row {row}" if len(loaded.files) == 1 else f"{file}, row {file_row}"

    detail = "; ".join(f"{where(r, file, file_row)}, column {c!r}: {why}" for r, c, why, file, file_row in reasons)
    raise InputError(accounts_path, f"no usable accounts: every row was rejected ({detail})")
