-- grain: one row per table of the attached build file (database `build`): the tables the build kept, as the write
-- floor writes them again.
select table_name
from duckdb_tables()
where database_name = 'build' and schema_name = 'main'
order by 1
