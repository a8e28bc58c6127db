-- What a refresh compares with the previous build: its tables' version, the tool and DuckDB that made them, its
-- settings and its inputs.
select schema_version, tool_version, duckdb_version, settings_json, inputs_json from build_info
