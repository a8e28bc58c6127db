-- grain: a session setting: how much memory DuckDB may use before it spills to its temp folder.
set memory_limit = $limit
