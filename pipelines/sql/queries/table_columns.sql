-- grain: one row per column of table or view {table}, in order: its name and its DuckDB type
select column_name, column_type from (describe {table})
