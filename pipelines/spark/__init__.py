"""The Spark engine of the build (`retention build --engine spark`): the project's sqlglot transform of the .sql
files (transform.py), a Spark session that runs them table by table (engine.py), and a build's use of it: the
steps the plan gives Spark and the moves of tables between the build's DuckDB file and Spark (handover.py). The
first two need the spark extra; this module and handover.py import neither, so the command line can name the error
without it."""

from ..errors import RetentionError


class SparkUnavailableError(RetentionError, RuntimeError):
    """pyspark, sqlglot or a Java runtime is missing: `pip install -e '.[spark]'` and a JRE 17+."""
