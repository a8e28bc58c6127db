"""Read-only access to the built database for the app: one cached connection, cached query results.

Queries are keyed on the build id, so a rebuild (a new file swapped in) refreshes every result.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.build import DEFAULT_DB_PATH, SQL_DIR


def database_path() -> Path:
    return Path(os.environ.get("RETENTION_DB") or DEFAULT_DB_PATH)


def open_database(path: Path) -> duckdb.DuckDBPyConnection | None:
    if not path.exists():
        return None
    return duckdb.connect(str(path), read_only=True)


def read_query(con: duckdb.DuckDBPyConnection, name: str) -> pd.DataFrame:
    """Run sql/queries/<name>.sql and return its rows."""
    return con.execute((SQL_DIR / "queries" / f"{name}.sql").read_text(encoding="utf-8")).df()
