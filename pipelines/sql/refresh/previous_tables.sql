-- The tables of a previous database (opened read-only), to check it holds what a refresh reads.
select table_name from duckdb_tables() where not internal and schema_name = 'main'
