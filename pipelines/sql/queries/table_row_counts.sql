-- One row per table of the build with its row count: DuckDB's own statistics for a table, and the count the build
-- recorded for a view over Parquet files (a Spark build leaves its largest tables so: build.PARQUET_VIEWS).
select table_name, estimated_size as row_count
from duckdb_tables()
where schema_name = 'main'
union all
select v.view_name, try_cast(json_extract_string(b.row_counts_json, '$.' || v.view_name) as bigint)
from duckdb_views() as v
cross join build_info as b
where v.schema_name = 'main' and not v.internal and v.sql ilike '%read_parquet(%'
order by table_name
