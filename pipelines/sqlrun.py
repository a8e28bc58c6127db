"""The one SQL runner: every query of the product is a `.sql` file under `sql/`, loaded here by name and run with
bound parameters. Identifiers (a user's segment column, an allow-listed measure) reach SQL only as
`TrustedSql` fragments quoted here; values only as `$name` parameters.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import duckdb
import pandas as pd

SQL_DIR = Path(__file__).parent / "sql"
# $name parameters in a query; one pattern for every runner below
PARAM_PATTERN = re.compile(r"\$([a-z_][a-z0-9_]*)")
SLOT_PATTERN = re.compile(r"\{([a-z_]+)\}")


class TrustedSql:
    """A piece of SQL built only from allow-listed, quoted identifiers and fixed text in this project.

    Template slots in the .sql files accept only this type, so a user's text cannot be pasted into a query by
    accident: user values travel as bound parameters.
    """

    __slots__ = ("text", "params")

    def __init__(self, text: str, params: tuple[str, ...] = ()):
        self.text = text
        # the $names this fragment binds (found here, not by scanning SQL that holds user-named identifiers)
        self.params = tuple(params)

    def __repr__(self) -> str:
        return f"TrustedSql({self.text!r})"


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB: any text, including quotes and keywords, becomes one name."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> TrustedSql:
    """A text constant as a fragment, for the few places DuckDB takes no parameter (a view's definition)."""
    return TrustedSql("'" + text.replace("'", "''") + "'")


def identifier(name: str) -> TrustedSql:
    """A column or table name as a fragment for a template slot."""
    return TrustedSql(quote_ident(name))


def own_table(con: duckdb.DuckDBPyConnection, name: str) -> TrustedSql:
    """Table `name` of the connection's own database, named with its catalog and schema: a temporary object of the
    same name, which an unqualified name would find first, does not hide it."""
    (catalog,) = con.execute(query_text("current_catalog")).fetchall()[0]
    return TrustedSql(".".join(quote_ident(part) for part in (catalog, "main", name)))


@functools.lru_cache(maxsize=None)
def sql_text(layer_dir: str, name: str) -> str:
    """The text of `sql/<layer_dir>/<name>.sql`, read once per process: a page's every rerun asks for its queries,
    and the files ship with the code (changing them means restarting, as changing the code does)."""
    return (SQL_DIR / layer_dir / f"{name}.sql").read_text(encoding="utf-8")


def query_text(name: str) -> str:
    """The text of a query file under `sql/queries`."""
    return sql_text("queries", name)


def _used_params(sql: str, params: dict) -> dict:
    """The values of the $names `sql` uses (DuckDB rejects unused named parameters)."""
    return {name: params[name] for name in dict.fromkeys(PARAM_PATTERN.findall(sql))}


def run_query(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> duckdb.DuckDBPyConnection:
    """Execute `sql` binding only the $names it uses."""
    return con.execute(sql, _used_params(sql, params))


def without_comment_lines(sql: str) -> str:
    """The SQL with its whole-line `--` comments dropped (the text a template's slots and $names are read from)."""
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


def fill_template(sql: str, **slots: TrustedSql) -> str:
    """Fill `{slot}` markers of a query file; only TrustedSql is accepted, and every slot must be filled.

    Comment lines are dropped first: a quoted identifier may hold a line break, and inside a `--`
    comment that would end the comment.
    """
    sql = without_comment_lines(sql)
    wanted = set(SLOT_PATTERN.findall(sql))  # checked on the template, before any identifier is in
    if wanted != set(slots):
        raise KeyError(f"template slots {sorted(wanted)} but given {sorted(slots)}")
    for name, fragment in slots.items():
        if not isinstance(fragment, TrustedSql):
            raise TypeError(f"template slot {name!r} takes TrustedSql, got {type(fragment).__name__}")
    # one pass, so text filled into one slot is never searched for another slot's marker
    return SLOT_PATTERN.sub(lambda m: slots[m.group(1)].text, sql)


def execute_template(con: duckdb.DuckDBPyConnection, name: str, params: dict | None = None, **slots: TrustedSql):
    """Run query file `name` with its slots filled, binding exactly the $names it uses.

    The names come from the file itself and from the fragments' declared params, never from the
    filled text (a user's column may be called "$filter_0"); DuckDB rejects unused parameters.
    """
    template = query_text(name)
    code = without_comment_lines(template)
    used = set(PARAM_PATTERN.findall(code))
    for fragment in slots.values():
        used.update(fragment.params)
    params = params or {}
    missing = used - set(params)
    if missing:
        raise KeyError(f"query {name}: no value for parameters {sorted(missing)}")
    return con.execute(fill_template(template, **slots), {k: params[k] for k in used})


def file_fragment(layer_dir: str, name: str, **slots: TrustedSql) -> TrustedSql:
    """A project query file (its slots, if given, filled) as a fragment for another template's slot, with the $names
    it uses. Without slots the text is taken as it is: a layer file may hold braces of its own, in string literals."""
    text = sql_text(layer_dir, name)
    text = fill_template(text, **slots) if slots else without_comment_lines(text)
    used = dict.fromkeys(PARAM_PATTERN.findall(text))
    for fragment in slots.values():
        used.update(dict.fromkeys(fragment.params))
    return TrustedSql(text, tuple(used))


def arrow_of_file(con: duckdb.DuckDBPyConnection, layer_dir: str, name: str, params: dict):
    """The rows of `sql/<layer_dir>/<name>.sql` as an Arrow table, read as a relation (a DB-API result copies every
    row once more on its way to Arrow)."""
    sql = sql_text(layer_dir, name)
    return con.sql(sql, params=_used_params(sql, params)).to_arrow_table()


def run_file(con: duckdb.DuckDBPyConnection, layer_dir: str, name: str, params: dict | None = None):
    """Run `sql/<layer_dir>/<name>.sql` as it is (a DDL file, a fixed query), binding the $names it uses."""
    return run_query(con, sql_text(layer_dir, name), params or {})


def create_table_as(con: duckdb.DuckDBPyConnection, table: str, query: TrustedSql, params: dict,
                    append: bool = False, temporary: bool = False) -> None:
    """Table `table` from the rows of `query` (a project query file as a fragment): replaced (a temporary table of
    the connection, with `temporary`), or appended to."""
    template = "insert_query_rows" if append else "create_temp_table_as" if temporary else "create_table_as"
    execute_template(con, template, params, table=identifier(table), query=query)


def row_count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    # fetchall: a half-read result blocks the connection's next register() in DuckDB 2
    return execute_template(con, "row_count", table=identifier(table)).fetchall()[0][0]


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> int:
    """Append a frame's rows to `table` (created from its .sql definition), column by name."""
    if frame.empty:
        return 0
    con.register("result_frame", frame)
    try:
        execute_template(con, "insert_result_rows", table=identifier(table))
    finally:
        con.unregister("result_frame")
    return len(frame)


def set_memory_limit(con: duckdb.DuckDBPyConnection, megabytes: int) -> None:
    run_file(con, "queries", "set_memory_limit", {"limit": f"{megabytes}MB"})
