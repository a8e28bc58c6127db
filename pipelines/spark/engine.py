"""A local (or given) Spark session that runs the build's .sql files, one table at a time, as Parquet.

Each table is the project's transform of its .sql file (transform.py), run with its $parameters bound through
spark.sql(text, args=...), written as Parquet under the work folder and read back as the temp view later files
name, so no query is computed twice. handover.py moves tables between the build's DuckDB file and Spark as Parquet.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..contract import Source
from ..errors import InputError
from ..load import LoadedFile, map_headers, normalise_header, source_query
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
    """The build's tables on Spark, each a Parquet folder and a temp view of that name: the tables a user reads
    (`kept`) under `output_dir`, the inputs handed over and the working tables under `work_dir`."""

    def __init__(self, spark, work_dir: Path, output_dir: Path | None = None, kept: frozenset[str] = frozenset()):
        self.spark = spark
        self.tables_dir = Path(work_dir) / "tables"
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        self.output_dir = Path(output_dir) if output_dir is not None else self.tables_dir
        self.kept = kept
        self.built: list[str] = []

    def path(self, name: str) -> Path:
        return (self.output_dir if name in self.kept else self.tables_dir) / name

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

    def read_input(self, url: str, source: Source) -> LoadedFile:
        """raw_<source> and src_<source> on Spark from the Parquet at `url` (a file, folder or glob that Spark reads
        and DuckDB does not: s3a://, hdfs://, abfss://, file://), with the loader's rules.

        As the DuckDB loader does for a folder: the files in path order, a row's number counting on through them
        (its file's first row plus its index in the file, from Spark's `_metadata` of each Parquet row), contract
        columns already of their kind kept typed, every other column text; then the same src_<source> query."""
        from pyspark.errors import PySparkException
        from pyspark.sql import functions as F

        try:
            # every file below a folder, and no partition columns from key=value folder names: what the DuckDB
            # loader reads from a folder, so the two engines give the same table
            scan = self.spark.read.option("recursiveFileLookup", "true").parquet(url)
        except PySparkException as exc:  # not there, no Parquet, a type Spark does not read (nanoseconds)
            raise InputError(url, f"Spark cannot read it as Parquet: {str(exc).splitlines()[0]}") from None
        located = scan.select("*", F.col("_metadata.file_path").alias("_file_path"),
                              F.col("_metadata.row_index").alias("_file_row_index"))
        # in the order of the files' paths as text, as the DuckDB loader takes a folder's files
        counts = sorted(((r[0], r[1]) for r in located.groupBy("_file_path").count().collect()),
                        key=lambda pair: _file_name(pair[0]))
        first = [1 + sum(n for _, n in counts[:i]) for i in range(len(counts))]
        offsets = self.spark.createDataFrame([(path, f) for (path, _), f in zip(counts, first)],
                                             "_file_path string, _first_row long")
        first_rows = [(_file_name(path), f, n) for (path, n), f in zip(counts, first)]
        types = {field.name: duckdb_type(field.dataType.simpleString()) for field in scan.schema.fields}
        loaded = LoadedFile(source=source.name, path=url, file_format="parquet", size_bytes=None, sha256=None,
                            rows=sum(n for _, n in counts), headers=list(types), mapped={}, files=first_rows)
        map_headers(loaded, source)
        if loaded.rows == 0 and not source.may_be_empty:
            raise InputError(url, f"holds no rows; the {source.name} input must list at least one account")
        columns = [(F.col("_first_row") + F.col("_file_row_index")).alias("_row")]
        raw_types = {}
        for header, kind in types.items():
            column = source.column(normalise_header(header))
            raw_types[header] = kind if column is not None and column.accepts_native(kind) else "VARCHAR"
            value = F.col("`" + header.replace("`", "``") + "`")
            columns.append(value if raw_types[header] == kind else value.cast("string").alias(header))
        name = f"raw_{source.name}"
        located.join(F.broadcast(offsets), "_file_path").select(*columns).write.mode("overwrite").parquet(
            str(self.path(name)))
        self.register(name)
        query = to_spark(source_query(loaded, source, raw_types))
        self.spark.sql(query).createOrReplaceTempView(f"src_{source.name}")
        return loaded

    def query(self, layer_dir: str, name: str, params: dict) -> list[tuple]:
        """The rows of query file `sql/<layer_dir>/<name>.sql`, run on Spark."""
        fragment = file_fragment(layer_dir, name)
        frame = self.spark.sql(to_spark(fragment.text), args={k: params[k] for k in fragment.params})
        return [tuple(row) for row in frame.collect()]


# Spark's type names (DataType.simpleString) as DuckDB names them, so the contract's NATIVE_TYPES decide the same
DUCKDB_TYPES = {"string": "VARCHAR", "timestamp": "TIMESTAMP WITH TIME ZONE", "timestamp_ntz": "TIMESTAMP",
                "date": "DATE", "double": "DOUBLE", "float": "FLOAT", "bigint": "BIGINT", "int": "INTEGER",
                "smallint": "SMALLINT", "tinyint": "TINYINT", "boolean": "BOOLEAN"}


def duckdb_type(spark_type: str) -> str:
    """decimal(14,2) -> DECIMAL(14,2); a type with no DuckDB twin keeps Spark's name (never native: made text)."""
    return DUCKDB_TYPES.get(spark_type, spark_type.upper())


def _file_name(uri: str) -> str:
    """A file as a reject names it: a local file (file:/tmp/a%20b.parquet) by its path, as the DuckDB loader names
    it; any other by Spark's URI."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri
