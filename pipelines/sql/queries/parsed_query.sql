-- grain: one row: DuckDB's parse of $query (one SELECT, never run) as JSON, from which the build's plan reads the
-- tables a file reads (pipelines/plan.py).
select json_serialize_sql($query) as parsed_json
