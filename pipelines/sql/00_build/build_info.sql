-- grain: one row: this build, its as-of date, the tool that made it and the version of the tables it made (the
-- app and the commands refuse another version's, pipelines/schema.py), its settings, inputs (path, size, SHA-256),
-- row counts and warnings as JSON, and what `retention import` recorded beside the inputs.
-- kind: table
-- made by: build
create table build_info (
    build_id varchar,
    as_of_date date,
    built_at timestamp,
    tool_version varchar,
    schema_version integer,
    duckdb_version varchar,
    revenue_basis varchar,
    settings_json varchar,
    inputs_json varchar,
    row_counts_json varchar,
    warnings_json varchar,
    build_seconds double,
    import_info_json varchar
)
