"""The Spark engine of the build (`retention build --engine spark`): the project's sqlglot transform of the .sql
files (transform.py) and a Spark session that runs them table by table (engine.py)."""
