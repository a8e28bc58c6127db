-- grain: one row per input file read (accounts, interactions, mrr_history): where it was read from. A working
-- table of the build, dropped once build_info records the inputs.
create table input_sources (
    source varchar,
    path varchar
)
