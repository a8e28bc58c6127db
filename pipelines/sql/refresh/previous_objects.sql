-- Every table and view of the previous database's copy, views first (a refresh keeps a few tables, drops the rest).
select view_name as name, 'view' as kind from duckdb_views() where not internal and schema_name = 'main'
union all
select table_name, 'table' from duckdb_tables() where not internal and schema_name = 'main'
order by kind desc, name
