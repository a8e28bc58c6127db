-- grain: one row per column the build knows of, per input: a contract column (found in the file or not), an
-- extra accounts column kept as a segment, or a file column that was ignored.
-- kind: table
-- made by: build
create table input_columns (
    source varchar,
    column_name varchar,
    source_header varchar,
    role varchar,
    is_required boolean,
    is_available boolean
)
