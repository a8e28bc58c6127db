-- grain: one row per view the build created (not DuckDB's own).
select view_name
from duckdb_views()
where not internal
