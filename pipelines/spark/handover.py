"""A Spark build's side of the plan: the session's tables for one build, and the moves of tables between the build's
DuckDB file and Spark, as Parquet.

The build's loop (pipelines/build_run.py) runs each step where the plan says and asks for the tables it reads on
that engine; this module makes the moves: a DuckDB table or view to Spark (its rows as one Parquet file, registered
under the same name), a Spark table to DuckDB (copied in, or, for a table whose header says `on spark: parquet
view`, a view over the Parquet files Spark wrote, which stay in the build's output folder).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from ..contract import Source
from ..load import LoadedFile
from ..plan import Plan, Step
from ..sqlrun import create_table_as, execute_template, file_fragment, identifier, literal
from . import SparkUnavailableError


class SparkBuild:
    """The Spark session of one build: its tables (SparkTables: the kept ones under `output_dir`, the rest under
    `work_dir`), and the moves between them and the DuckDB connection `con`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, plan: Plan, work_dir: Path, output_dir: Path,
                 master: str | None, conf: dict[str, str] | None):
        try:
            from .engine import DEFAULT_MASTER, SparkTables, start_session
        except ImportError as exc:  # sqlglot (the transform) or pyspark is not installed
            raise SparkUnavailableError(f"{exc.name} is not installed: pip install -e '.[spark]'") from exc
        self.con = con
        self.plan = plan
        self.tables = SparkTables(start_session(master or DEFAULT_MASTER, conf), work_dir, output_dir,
                                  frozenset(plan.kept))

    def read_input(self, url: str, source: Source) -> LoadedFile:
        """raw_<source> and src_<source> on Spark, read by Spark itself from a URL DuckDB does not open."""
        return self.tables.read_input(url, source)

    def make(self, step: Step, params: dict) -> int | None:
        """Make `step` on Spark: a table (built whole: no parts) and its row count, or a view."""
        if step.is_query:
            return self.tables.create_table(step.layer_dir, step.file, {**params, "n_parts": 1, "part": 0})
        self.tables.create_view(step.layer_dir, step.file)
        return None

    def query(self, layer_dir: str, name: str, params: dict) -> list[tuple]:
        return self.tables.query(layer_dir, name, params)

    def send(self, name: str) -> None:
        """DuckDB's table or view `name` as Parquet (a folder of one file, as Spark writes a table), registered on
        Spark under the same name."""
        self.tables.path(name).mkdir(parents=True, exist_ok=True)
        execute_template(self.con, "copy_to_parquet", {"path": str(self.tables.path(name) / "part-0.parquet")},
                         query=file_fragment("queries", "all_rows", table=identifier(name)))
        self.tables.register(name)

    def fetch(self, name: str, temporary: bool = False) -> None:
        """Spark's table `name` (its Parquet files) as a DuckDB table of the same name; a large one (`on spark:
        parquet view`) as a view over its files instead of a copy."""
        files = str(self.tables.path(name) / "*.parquet")
        if name in self.plan.parquet_views:
            execute_template(self.con, "parquet_view", view=identifier(name), path=literal(files))
        else:
            create_table_as(self.con, name, file_fragment("queries", "parquet_rows"), {"path": files},
                            temporary=temporary)
