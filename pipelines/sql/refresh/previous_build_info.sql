-- What a refresh compares with the previous build: its tables' version, its settings and its inputs.
select schema_version, settings_json, inputs_json from build_info
