"""User filters (`--filter COLUMN=VALUE`, `--filter 'COLUMN in V1|V2'`) and grouping columns, turned into
parameterised SQL.

Owns the allow-list of columns a user may name: every segment column of the build (from
`segment_columns`, any name, quoted as an identifier) plus a few built columns of
`account_survival` (`mrr`, `signup_cohort_month`, `signup_year`). User text never reaches SQL:
a column name is looked up in the allow-list and replaced by its quoted identifier, and a value is
bound as a `$filter_<i>` parameter (each value of a set as `$filter_<i>_<j>`). The lifetime service
aggregates of `account_survival` are left out on purpose: they are summed over an account's whole
life, so grouping or filtering survival by them would let the outcome leak into the groups (an
account that lived longer had more tickets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import duckdb

from .errors import RetentionError
from .settings import FILTER_MAX_LEVELS
from .sqlrun import TrustedSql, query_text, quote_ident


# The built column of account_survival the sidebar's cohort range filters
COHORT_COLUMN = "signup_cohort_month"
# The segment cells' own id column: a segment of that name is left out of the cells (its filters count accounts).
CELL_ID = "cell_id"

# Comparison operators a filter may use, longest first so `>=` is not read as `>`.
OPERATORS = (">=", "<=", "!=", "=", ">", "<")
# Categories have no order, so only equality and membership of a set make sense for them.
CATEGORICAL_OPERATORS = ("=", "!=")
# `COLUMN in V1|V2|V3`: any of the values. Filters are always ANDed (a signed-in csm's scope is one of them), so
# "any of" has to be said inside one filter: two `=` filters on one column keep meaning both, which nothing matches.
SET_OPERATOR = "in"
# The values of a set are split on `|`, which segment values rarely hold (commas and spaces they often do); a
# value that holds one writes it `\|`, and a backslash `\\`.
SET_SEPARATOR = "|"
SET_ESCAPE = "\\"
# What a column that takes no set holds, for the message that says so
KIND_WORDS = {"numeric": "numbers", "date": "signup months", "year": "years"}
# A word, so it needs a space either side: `plan in Starter|Growth`; `plan=in x` stays an equality.
SET_PATTERN = re.compile(r"\s+in(?:\s+(.*))?", re.IGNORECASE | re.DOTALL)


class FilterError(RetentionError, ValueError):
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
    operator: str  # one of OPERATORS, or SET_OPERATOR
    # str for categorical, float for numeric and year, date for date; a tuple of str for a set
    value: str | float | date | tuple[str, ...]
    text: str  # the filter as the user wrote it

    def as_dict(self) -> dict:
        value: object = self.value
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
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
    return allow_list(con.execute(query_text("km_segment_columns")).fetchall())


def allow_list(segment_kinds) -> dict[str, FilterableColumn]:
    """The allow-list from the build's segment columns as (name, kind) pairs, e.g. rows of `segment_columns` a caller
    has already read."""
    columns: dict[str, FilterableColumn] = {}
    for name, kind in segment_kinds:
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
    """Parse `COLUMN<op>VALUE` with op one of = != < <= > >=, or `COLUMN in V1|V2|...` (any of the values).

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
            after = stripped[len(name):]
            rest = after.lstrip()
            operator = next((op for op in OPERATORS if rest.startswith(op)), None)
            if operator is not None:
                return _typed_filter(columns[name], operator, rest[len(operator):].strip(), text)
            in_set = SET_PATTERN.fullmatch(after)
            if in_set is not None:
                return _typed_filter(columns[name], SET_OPERATOR, in_set.group(1) or "", text)
    match = re.search(r"(>=|<=|!=|=|>|<)|\s+in(\s|$)", stripped, re.IGNORECASE)
    if match is None:
        raise FilterError(f"--filter {text!r}: expected COLUMN=VALUE (or !=, <, <=, >, >=) or COLUMN in V1|V2; "
                          f"valid columns: {valid_list(columns)}")
    guess = stripped[: match.start()].strip()
    raise FilterError(f"--filter {text!r}: unknown column {guess!r}; valid columns: {valid_list(columns)}")


def set_values(raw: str) -> tuple[str, ...]:
    """The values of a set, `Starter|Growth` -> ("Starter", "Growth"): split on unescaped `|`, each value stripped
    of surrounding spaces (as an `=` value is), `\\|` read as `|` and `\\\\` as a backslash, repeats dropped."""
    values, current, escaped = [], [], False
    for char in raw:
        if escaped:
            if char not in (SET_SEPARATOR, SET_ESCAPE):
                raise FilterError(f"{SET_ESCAPE}{char} in {raw!r} is not an escape: write {SET_ESCAPE}{SET_SEPARATOR} "
                                  f"for a {SET_SEPARATOR} inside a value and {SET_ESCAPE * 2} for a backslash")
            current.append(char)
            escaped = False
        elif char == SET_ESCAPE:
            escaped = True
        elif char == SET_SEPARATOR:
            values.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if escaped:
        raise FilterError(f"{raw!r} ends with a lone {SET_ESCAPE}: write {SET_ESCAPE * 2} for a backslash")
    values.append("".join(current).strip())
    if values == [""]:
        raise FilterError(f"the set is empty: name at least one value, as in plan in Starter{SET_SEPARATOR}Growth")
    if "" in values:
        raise FilterError(f"{raw!r} has an empty value between two {SET_SEPARATOR} (or at an end)")
    return tuple(dict.fromkeys(values))


def values_filter_text(column: str, values) -> str:
    """The filter text that keeps accounts whose `column` is any of `values`: `COLUMN=VALUE` for one value (the form
    links and scopes have always used), `COLUMN in V1|V2` with `|` and backslashes escaped for several."""
    values = list(dict.fromkeys(values))
    if not values:
        raise FilterError(f"no values for {column!r}: an empty set would match no account")
    if len(values) == 1:
        return f"{column}={values[0]}"
    escaped = (v.replace(SET_ESCAPE, SET_ESCAPE * 2).replace(SET_SEPARATOR, SET_ESCAPE + SET_SEPARATOR)
               for v in values)
    return f"{column} {SET_OPERATOR} {SET_SEPARATOR.join(escaped)}"


def _typed_filter(column: FilterableColumn, operator: str, raw: str, text: str) -> Filter:
    if operator == SET_OPERATOR:
        if column.kind != "categorical":
            raise FilterError(f"--filter {text!r}: column {column.name!r} holds {KIND_WORDS[column.kind]}, and only a "
                              f"categorical column takes a set of values ({SET_OPERATOR}); give a range with >= and <= "
                              "instead")
        try:
            return Filter(column, operator, set_values(raw), text)
        except FilterError as error:
            raise FilterError(f"--filter {text!r}: {error}") from None
    if column.kind == "categorical":
        if operator not in CATEGORICAL_OPERATORS:
            raise FilterError(f"--filter {text!r}: column {column.name!r} is categorical, so only = and != apply, "
                              f"or {SET_OPERATOR} with a set of values ({column.name} {SET_OPERATOR} A{SET_SEPARATOR}B)")
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
        month = date.fromisoformat(raw + "-01" if re.fullmatch(r"\d{4}-\d{2}", raw) else raw)
    except ValueError:
        raise FilterError(f"--filter {text!r}: column {column.name!r} takes a month, YYYY-MM, got {raw!r}") from None
    return Filter(column, operator, month, text)


def parse_filters(texts, columns: dict[str, FilterableColumn]) -> list[Filter]:
    return [parse_filter(t, columns) for t in texts or ()]


def filter_predicate(filters: list[Filter]) -> tuple[TrustedSql, dict]:
    """The WHERE predicate (filters ANDed) and its bound parameters: `$filter_<i>`, or `$filter_<i>_<j>` for the
    j-th value of a set.

    A comparison with a missing value is not true in SQL, so an account with no value in a
    filtered column is excluded by every filter on that column, including `!=`. Every filter is
    ANDed, a set too, so a filter can only narrow what the others (a csm's scope) keep.
    """
    if not filters:
        return TrustedSql("true"), {}
    parts: list[str] = []
    params: dict[str, object] = {}
    for i, f in enumerate(filters):
        if f.operator == SET_OPERATOR:
            assert isinstance(f.value, tuple)  # parse_filter gives a set operator a tuple of values
            names = [f"filter_{i}_{j}" for j in range(len(f.value))]
            parts.append(f"{f.column.sql.text} in ({', '.join('$' + n for n in names)})")
            params.update(zip(names, f.value))
            continue
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
    """Whether the stored segment cells answer these filters: each compares a column the cells are made of, with
    any operator, a set included, since a cell holds one value of each such column (a filter on anything else, a
    numeric segment or the signup year, needs the accounts counted)."""
    return all(f.column.name in columns for f in filters)
