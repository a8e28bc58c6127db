-- grain: one row per table or view of the attached build file (database `build`, schema main).
select table_name as object_name
from duckdb_tables()
where database_name = 'build' and schema_name = 'main'
union all
select view_name
from duckdb_views()
where database_name = 'build' and schema_name = 'main' and not internal
order by 1
