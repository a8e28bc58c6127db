"""Model results into the database, through the tables `sql/60_models` defines: the build stores what the pages
and commands read, so nothing refits on a rerun."""

from __future__ import annotations

import json

import duckdb

from ..sqlrun import insert_rows, query_text, sql_text


def create_result_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """(Re)create a model result table as `sql/60_models/<table>.sql` defines it, empty."""
    con.execute(sql_text("60_models", table))


def store_model_info(con: duckdb.DuckDBPyConnection, model: str, info: dict) -> None:
    """A model's information row (method, sample, notes, or why it could not be fitted), replacing any before."""
    create_result_table(con, "model_info")
    con.execute(query_text("model_info_replace"), {"model": model})
    con.execute(query_text("model_info_insert"), {"model": model, "info_json": json.dumps(info, default=float)})


def store_state(con: duckdb.DuckDBPyConnection, query: str, **values) -> None:
    """One model's state row through its insert query (driver_model_state_insert, factor_model_state_insert)."""
    con.execute(query_text(query), values)


def read_state(con: duckdb.DuckDBPyConnection, query: str, **values) -> dict | None:
    """A stored model's state, or None when the build stored none (the model could not be fitted)."""
    row = con.execute(query_text(query), values).fetchone()
    return json.loads(row[0]) if row else None


def read_model_info(con: duckdb.DuckDBPyConnection, model: str) -> dict | None:
    """A model's information row as the build stored it, or None when it stored none."""
    rows = con.execute(query_text("model_info"), {"model": model}).fetchall()
    return json.loads(rows[0][0]) if rows else None


def store_result(con: duckdb.DuckDBPyConnection, table: str, model: str, frame=None, info: dict | None = None,
                 error: str | None = None) -> int:
    """A result table (empty, and why, when frame is None) and its model's information row; the rows stored."""
    create_result_table(con, table)
    if frame is None:
        store_model_info(con, model, {"model": model, "error": error})
        return 0
    insert_rows(con, table, frame)
    store_model_info(con, model, {"model": model, **(info or {})})
    return len(frame)
