"""What every command shares: the --db option, opening a built database, parsing small argument types."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import duckdb

from ..errors import InputError
from ..schema import schema_problem
from ..settings import DEFAULT_DB_PATH, ENV_DB, database_path


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    """The --db option every command shares; without it, the database settings.database_path names."""
    parser.add_argument("--db", type=Path, default=database_path(),
                        help=f"database file (default ${ENV_DB} or {DEFAULT_DB_PATH})")


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def open_database_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a built database of this version of the tool (InputError for none, a file that is
    not a DuckDB database, or an older build)."""
    if not Path(path).exists():
        raise InputError(path, "no database here; build one with `retention build` (or `make run` for the demo)")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:  # a CSV, a folder, a file another program holds locked
        raise InputError(path, f"cannot be opened as a DuckDB database ({error}); pass --db the file "
                               "`retention build` wrote") from None
    if problem := schema_problem(con):
        con.close()
        raise InputError(path, problem)
    return con


def split_list(text: str | None) -> list[str] | None:
    return [item.strip() for item in text.split(",") if item.strip()] if text else None


# Options whose value may start with a minus ("--change -50%"): argparse takes a leading minus for an option
# unless it looks like a plain number, so such a value is joined to its option ("--change=-50%") first.
SIGNED_VALUE_OPTIONS = ("--change",)


def join_signed_values(argv: list[str]) -> list[str]:
    """`--change -50%` becomes `--change=-50%`, so argparse reads the value as a value."""
    joined, i = [], 0
    while i < len(argv):
        if argv[i] in SIGNED_VALUE_OPTIONS and i + 1 < len(argv) and argv[i + 1][:1] in ("-", "\u2212"):
            joined.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
            continue
        joined.append(argv[i])
        i += 1
    return joined


def money(value: float) -> str:
    """Dollars to the dollar, a minus before the sign: $1,234 and -$56."""
    return f"-${-value:,.0f}" if value < 0 else f"${value:,.0f}"
