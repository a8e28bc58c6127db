-- grain: the one row of build_info, from the values the build gathered (revenue basis from its own table).
insert into build_info
select
    $build_id,
    $as_of_date,
    $built_at,
    $tool_version,
    $schema_version,
    $duckdb_version,
    (select revenue_basis from revenue_basis),
    $settings_json,
    $inputs_json,
    $row_counts_json,
    $warnings_json,
    $build_seconds,
    $import_info_json
