-- grain: one row per problem found in any input row; action says whether the row was dropped or a value emptied.
-- row_number counts the source's rows (through its files in path order, for a folder or glob of Parquet files);
-- input_file and input_file_row_number say which file holds the row, and which row of that file it is.
-- kind: table
-- engines: duckdb, spark
with all_rejects as (
    select * from account_rejects
    union all
    select * from interaction_rejects
    union all
    select * from mrr_history_rejects
)

select
    cast(r.source as varchar) as source,
    cast(r.row_number as bigint) as row_number,
    cast(r.column_name as varchar) as "column",
    cast(r.reason as varchar) as reason,
    cast(r.raw_value as varchar) as raw_value,
    cast(r.action as varchar) as action,
    cast(f.path as varchar) as input_file,
    cast(r.row_number - f.first_row + 1 as bigint) as input_file_row_number
from all_rejects as r
left join input_sources as f
    on f.source = r.source and r.row_number >= f.first_row and r.row_number < f.first_row + f.n_rows
