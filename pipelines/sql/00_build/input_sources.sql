-- grain: one row per input file read (accounts, interactions, mrr_history; a folder or glob input has one row
-- per Parquet file): where it was read from, and the numbers of its rows (first_row to first_row + n_rows - 1;
-- a source's rows count on through its files in path order). A working table of the build: rejected_rows and
-- load_report name each row's file from it; build_info records the inputs from the files themselves.
-- kind: temporary
-- made by: load
create table input_sources (
    source varchar,
    path varchar,
    first_row bigint,
    n_rows bigint
)
