"""A local (or given) Spark session that runs the build's .sql files, one table at a time, as Parquet.

Each table is the project's transform of its .sql file (transform.py), run with its $parameters bound through
spark.sql(text, args=...), written as Parquet under the work folder and read back as the temp view later files
name, so no query is computed twice. The caller (build.py) moves tables between DuckDB and Spark as Parquet.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ..sqlrun import file_fragment, sql_text
from . import SparkUnavailableError
from .transform import to_spark, view_query

DEFAULT_MASTER = "local[*]"


def _session_dir() -> Path:
    """The session's scratch and warehouse folder: one per process, since a session outlives a build (the next
    build reuses it) and Spark keeps writing shuffle files where it was first told to."""
    global _SESSION_DIR
    if _SESSION_DIR is None:
        _SESSION_DIR = Path(tempfile.mkdtemp(prefix="retention-spark-"))
        atexit.register(shutil.rmtree, _SESSION_DIR, True)
    return _SESSION_DIR


_SESSION_DIR: Path | None = None


def _session_conf(extra: dict[str, str]) -> dict[str, str]:
    # Offline and quiet: no UI, the driver on loopback, scratch and warehouse folders in a temp folder of the
    # process, one shuffle partition per core (a local build's tables are small), UTC as DuckDB's build session.
    cores = str(max(2, os.cpu_count() or 2))
    conf = {
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": cores,
        "spark.default.parallelism": cores,
        "spark.local.dir": str(_session_dir() / "local"),
        "spark.sql.warehouse.dir": str(_session_dir() / "warehouse"),
        "spark.sql.session.timeZone": "UTC",
        # DuckDB's arithmetic: x / 0 is NULL, not an error (the queries guard with nullif where they mean it)
        "spark.sql.ansi.enabled": "false",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.pyspark.jvmStacktrace.enabled": "false",
        "spark.log.structuredLogging.enabled": "false",  # Spark 4 logs JSON lines otherwise
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    }
    conf.update(extra)
    return conf


def start_session(master: str = DEFAULT_MASTER, conf: dict[str, str] | None = None):
    """A Spark session (an active one is reused: the SQL options below are set on it either way)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailableError("pyspark is not installed: pip install -e '.[spark]'") from exc
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        raise SparkUnavailableError("no Java runtime: install one (Debian: apt-get install openjdk-17-jre-headless)")
    # the workers run this interpreter, which has pyspark
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings = _session_conf(conf or {})
    builder = SparkSession.builder.appName("retention-build")
    if master.startswith("sc://"):
        builder = builder.remote(master)
    else:
        builder = builder.master(master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if not master.startswith("sc://"):
        spark.sparkContext.setLogLevel("ERROR")
    for key, value in settings.items():
        if key.startswith("spark.sql.") and not key.startswith("spark.sql.warehouse"):
            spark.conf.set(key, value)
    return spark


class SparkTables:
    """The build's tables on Spark: each a Parquet folder under `work_dir/tables` and a temp view of that name."""

    def __init__(self, spark, work_dir: Path):
        self.spark = spark
        self.tables_dir = Path(work_dir) / "tables"
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        self.built: list[str] = []

    def path(self, name: str) -> Path:
        return self.tables_dir / name

    def register(self, name: str, path: Path | None = None) -> None:
        """Make the Parquet at `path` (default: this table's folder) the view `name`."""
        self.spark.read.parquet(str(path or self.path(name))).createOrReplaceTempView(name)

    def create_table(self, layer_dir: str, name: str, params: dict) -> int:
        """Table `name` from `sql/<layer_dir>/<name>.sql` on Spark: written, registered, counted."""
        fragment = file_fragment(layer_dir, name)
        frame = self.spark.sql(to_spark(fragment.text), args={k: params[k] for k in fragment.params})
        frame.write.mode("overwrite").parquet(str(self.path(name)))
        self.register(name)
        self.built.append(name)
        return self.spark.read.parquet(str(self.path(name))).count()

    def create_view(self, layer_dir: str, name: str) -> None:
        """A file holding `create view <name> as <select>`: the same view, temporary, on Spark."""
        view, query = view_query(sql_text(layer_dir, name))
        self.spark.sql(to_spark(query)).createOrReplaceTempView(view)

    def query(self, layer_dir: str, name: str, params: dict) -> list[tuple]:
        """The rows of query file `sql/<layer_dir>/<name>.sql`, run on Spark."""
        fragment = file_fragment(layer_dir, name)
        frame = self.spark.sql(to_spark(fragment.text), args={k: params[k] for k in fragment.params})
        return [tuple(row) for row in frame.collect()]
