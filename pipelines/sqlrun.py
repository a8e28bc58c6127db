"""The one SQL runner: every query of the product is a `.sql` file under `sql/`, loaded here by name and run with
bound parameters. Identifiers (a user's segment column, an allow-listed measure) reach SQL only as
`TrustedSql` fragments quoted here; values only as `$name` parameters.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

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


def identifier(name: str) -> TrustedSql:
    """A column or table name as a fragment for a template slot."""
    return TrustedSql(quote_ident(name))


def sql_text(layer_dir: str, name: str) -> str:
    """The text of `sql/<layer_dir>/<name>.sql`."""
    return (SQL_DIR / layer_dir / f"{name}.sql").read_text(encoding="utf-8")


def query_text(name: str) -> str:
    """The text of a query file under `sql/queries`."""
    return sql_text("queries", name)


def run_query(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> duckdb.DuckDBPyConnection:
    """Execute `sql` binding only the $names it uses (DuckDB rejects unused named parameters)."""
    used = {name: params[name] for name in dict.fromkeys(PARAM_PATTERN.findall(sql))}
    return con.execute(sql, used)


def fill_template(sql: str, **slots: TrustedSql) -> str:
    """Fill `{slot}` markers of a query file; only TrustedSql is accepted, and every slot must be filled.

    Comment lines are dropped first: a quoted identifier may hold a line break, and inside a `--`
    comment that would end the comment.
    """
    sql = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
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
    code = "\n".join(line for line in template.splitlines() if not line.lstrip().startswith("--"))
    used = set(PARAM_PATTERN.findall(code))
    for fragment in slots.values():
        used.update(fragment.params)
    params = params or {}
    missing = used - set(params)
    if missing:
        raise KeyError(f"query {name}: no value for parameters {sorted(missing)}")
    return con.execute(fill_template(template, **slots), {k: params[k] for k in used})
