"""User filters (`--filter COLUMN=VALUE`) and grouping columns, turned into parameterised SQL.

Owns the allow-list of columns a user may name: every segment column of the build (from
`segment_columns`, any name, quoted as an identifier) plus a few built columns of
`account_survival` (`mrr`, `signup_cohort_month`, `signup_year`). User text never reaches SQL:
a column name is looked up in the allow-list and replaced by its quoted identifier, and a value is
bound as a `$filter_<i>` parameter. The lifetime service aggregates of `account_survival` are left
out on purpose: they are summed over an account's whole life, so grouping or filtering survival by
them would let the outcome leak into the groups (an account that lived longer had more tickets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import duckdb

from .sqlrun import TrustedSql, query_text, quote_ident


# A categorical segment with more distinct values than this (an id-like column) is not offered as a filter in the
# app, and the build's segment cells (account_cells) are not made of it.
FILTER_MAX_LEVELS = 200
# The built column of account_survival the sidebar's cohort range filters
COHORT_COLUMN = "signup_cohort_month"
# The segment cells' own id column: a segment of that name is left out of the cells (its filters count accounts).
CELL_ID = "cell_id"

# Comparison operators a filter may use, longest first so `>=` is not read as `>`.
OPERATORS = (">=", "<=", "!=", "=", ">", "<")
# Categories have no order, so only equality makes sense for them.
CATEGORICAL_OPERATORS = ("=", "!=")


class FilterError(ValueError):
    """A filter or grouping column cannot be used; the message names the column and the valid ones."""


@dataclass(frozen=True)
class FilterableColumn:
    """A column a user may filter or group by: its name as the user writes it and its SQL."""

    name: str
    # categorical (text), numeric (compared as numbers), date (signup_cohort_month), year (signup_year)
    kind: str
    sql: TrustedSql
    source: str  # segment | built


@dataclass(frozen=True)
class Filter:
    column: FilterableColumn
    operator: str
    value: object  # str for categorical, float for numeric and year, date for date
    text: str  # the filter as the user wrote it

    def as_dict(self) -> dict:
        value = self.value.isoformat() if isinstance(self.value, date) else self.value
        return {"column": self.column.name, "operator": self.operator, "value": value, "text": self.text}


def _quoted(name: str) -> TrustedSql:
    return TrustedSql(quote_ident(name))


# Built columns of account_survival a user may also name. signup_year is derived from signup_date.
BUILT_COLUMNS = (
    FilterableColumn("mrr", "numeric", _quoted("mrr"), "built"),
    FilterableColumn(COHORT_COLUMN, "date", _quoted(COHORT_COLUMN), "built"),
    FilterableColumn("signup_year", "year", TrustedSql(f"year({quote_ident('signup_date')})"), "built"),
)


def filterable_columns(con: duckdb.DuckDBPyConnection) -> dict[str, FilterableColumn]:
    """The allow-list: the build's segment columns, then the built columns they do not shadow."""
    rows = con.execute(query_text("km_segment_columns")).fetchall()
    columns: dict[str, FilterableColumn] = {}
    for name, kind in rows:
        columns[name] = FilterableColumn(name, "numeric" if kind == "numeric" else "categorical", _quoted(name), "segment")
    for built in BUILT_COLUMNS:
        # a segment the user named like a derived column (e.g. signup_year) wins: it is their data
        columns.setdefault(built.name, built)
    return columns


def resolve_column(name: str, columns: dict[str, FilterableColumn], role: str = "column") -> FilterableColumn:
    """Find `name` in the allow-list: exact match first, then a unique case-insensitive match."""
    if name in columns:
        return columns[name]
    folded = [c for c in columns if c.lower() == name.lower()]
    if len(folded) == 1:
        return columns[folded[0]]
    raise FilterError(f"unknown {role} {name!r}; valid columns: {valid_list(columns)}")


def valid_list(columns: dict[str, FilterableColumn]) -> str:
    return ", ".join(f"{name} ({col.kind})" for name, col in columns.items())


def parse_filter(text: str, columns: dict[str, FilterableColumn]) -> Filter:
    """Parse `COLUMN<op>VALUE` with op one of = != < <= > >=.

    Column names may contain anything (even `=`), so the column is found by trying every
    allow-listed name as a prefix, longest first, rather than by splitting on the operator.
    """
    stripped = text.strip()
    candidates = sorted(columns, key=len, reverse=True)
    for fold in (False, True):
        for name in candidates:
            head = stripped[: len(name)]
            if head != name and not (fold and head.lower() == name.lower()):
                continue
            rest = stripped[len(name):].lstrip()
            operator = next((op for op in OPERATORS if rest.startswith(op)), None)
            if operator is None:
                continue
            return _typed_filter(columns[name], operator, rest[len(operator):].strip(), text)
    match = re.search(r"(>=|<=|!=|=|>|<)", stripped)
    if match is None:
        raise FilterError(f"--filter {text!r}: expected COLUMN=VALUE (or !=, <, <=, >, >=); "
                          f"valid columns: {valid_list(columns)}")
    guess = stripped[: match.start()].strip()
    raise FilterError(f"--filter {text!r}: unknown column {guess!r}; valid columns: {valid_list(columns)}")


def _typed_filter(column: FilterableColumn, operator: str, raw: str, text: str) -> Filter:
    if column.kind == "categorical":
        if operator not in CATEGORICAL_OPERATORS:
            raise FilterError(f"--filter {text!r}: column {column.name!r} is categorical, so only = and != apply")
        return Filter(column, operator, raw, text)
    if column.kind in ("numeric", "year"):
        try:
            value = float(raw)
        except ValueError:
            raise FilterError(f"--filter {text!r}: column {column.name!r} is numeric, and {raw!r} is not a number") from None
        if value != value:  # NaN compares false with everything; refuse it rather than match nothing silently
            raise FilterError(f"--filter {text!r}: column {column.name!r} needs a number, got NaN")
        return Filter(column, operator, value, text)
    # date: signup_cohort_month, given as YYYY-MM or YYYY-MM-DD
    try:
        value = date.fromisoformat(raw + "-01" if re.fullmatch(r"\d{4}-\d{2}", raw) else raw)
    except ValueError:
        raise FilterError(f"--filter {text!r}: column {column.name!r} takes a month, YYYY-MM, got {raw!r}") from None
    return Filter(column, operator, value, text)


def parse_filters(texts, columns: dict[str, FilterableColumn]) -> list[Filter]:
    return [parse_filter(t, columns) for t in texts or ()]


def filter_predicate(filters: list[Filter]) -> tuple[TrustedSql, dict]:
    """The WHERE predicate (filters ANDed) and its bound parameters `$filter_<i>`.

    A comparison with a missing value is not true in SQL, so an account with no value in a
    filtered column is excluded by every filter on that column, including `!=`.
    """
    if not filters:
        return TrustedSql("true"), {}
    parts, params = [], {}
    for i, f in enumerate(filters):
        assert f.operator in OPERATORS  # the operator text comes from OPERATORS, never from the user
        parts.append(f"{f.column.sql.text} {f.operator} $filter_{i}")
        params[f"filter_{i}"] = f.value
    return TrustedSql(" and ".join(f"({p})" for p in parts), tuple(params)), params


def quartile_bucket(column: FilterableColumn) -> TrustedSql:
    """Quartile 1-4 of a numeric column over the bound cut points $cut_1 <= $cut_2 <= $cut_3 (NULL stays NULL).

    A value equal to a cut point falls in the lower quartile, so heavy ties can leave a quartile empty
    (it is then simply absent) rather than splitting equal values across groups.
    """
    c = column.sql.text
    return TrustedSql(
        f"(case when {c} is null then null when {c} <= $cut_1 then 1 when {c} <= $cut_2 then 2 "
        f"when {c} <= $cut_3 then 3 else 4 end)",
        ("cut_1", "cut_2", "cut_3"),
    )


def cell_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """What the build's segment cells are made of, the columns the app's sidebar filters by: the categorical
    segments with at most FILTER_MAX_LEVELS values (by name), then the signup cohort month unless a segment has
    its name (the segment is then the column, as in the allow-list)."""
    segments = [name for (name,) in con.execute(query_text("filter_segment_columns"),
                                                {"max_levels": FILTER_MAX_LEVELS}).fetchall()]
    shadowed = {name for (name, _) in con.execute(query_text("km_segment_columns")).fetchall()}
    cohort = [] if COHORT_COLUMN in shadowed else [COHORT_COLUMN]
    return [name for name in segments if name != CELL_ID] + cohort


def cells_answer(filters: list[Filter], columns: list[str]) -> bool:
    """Whether the stored segment cells answer these filters: each compares a column the cells are made of (a
    filter on anything else, a numeric segment or the signup year, needs the accounts counted)."""
    return all(f.column.name in columns for f in filters)
