-- grain: one row per extra column of the accounts file (a segment to slice by): its name in the database, its
-- header in the file, 'numeric' or 'categorical', and how many distinct values it has.
-- kind: table
-- made by: segments
-- depends on: stg_account_segments
create table segment_columns (
    column_name varchar,
    source_header varchar,
    kind varchar,
    n_levels bigint
)
