"""The version of the tables a build makes, and the one answer for a database from another version.

A build records SCHEMA_VERSION in build_info. Whatever reads a database (the app's pages, `retention km`, `drivers`,
`risk`, `whatif`, `revenue`) asks `schema_problem` first and, for a database of another version, shows its message
and stops, so no reader keeps a fallback for the tables or columns an older build lacked.

Bump SCHEMA_VERSION when a build's tables change in a way a reader needs: a table, a column or a stored model's
state added, renamed, dropped or given another meaning.
"""

from __future__ import annotations

import duckdb

from .sqlrun import query_text

SCHEMA_VERSION = 4

OLDER_BUILD = ("This database was built by an older version of the tool: rebuild it (`retention build` with the "
               "same inputs, or the Data page of the app).")
NEWER_BUILD = ("This database was built by a newer version of the tool than this one: update the tool, or rebuild "
               "the database with this version (`retention build`, or the Data page of the app).")


def recorded_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The schema version the database's build recorded; None for a build from before versions were recorded (or a
    file that is no build)."""
    (is_recorded,) = con.execute(query_text("schema_version_recorded")).fetchall()[0]
    if not is_recorded:
        return None
    rows = con.execute(query_text("schema_version")).fetchall()
    return rows[0][0] if rows else None


def schema_problem(con: duckdb.DuckDBPyConnection) -> str | None:
    """Why this version of the tool cannot read the database (in the user's words), or None when it can."""
    version = recorded_version(con)
    if version is None or version < SCHEMA_VERSION:
        return OLDER_BUILD
    if version > SCHEMA_VERSION:
        return NEWER_BUILD
    return None
