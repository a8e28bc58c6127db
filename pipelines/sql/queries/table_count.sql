-- grain: one row: how many tables of the build are named $table_name.
select count(*) as n_tables
from duckdb_tables()
where table_name = $table_name
