"""The Spark engine of the build (`retention build --engine spark`): the project's sqlglot transform of the .sql
files (transform.py) and a Spark session that runs them table by table (engine.py). Both need the spark extra;
this module itself imports neither, so the command line can name the error without it."""


class SparkUnavailableError(RuntimeError):
    """pyspark, sqlglot or a Java runtime is missing: `pip install -e '.[spark]'` and a JRE 17+."""
