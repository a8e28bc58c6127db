-- One row per table of the build with its row count (from DuckDB's own statistics).
select table_name, estimated_size as row_count
from duckdb_tables()
where schema_name = 'main'
order by table_name
