-- grain: one row: whether the database's build_info has a schema_version column (a build from before the tool
-- recorded one has none, and a file that is no build has no build_info).
select count(*) > 0 as is_recorded
from duckdb_columns()
where database_name = current_database()
    and schema_name = 'main'
    and table_name = 'build_info'
    and column_name = 'schema_version'
