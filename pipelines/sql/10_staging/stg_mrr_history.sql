-- grain: one row per account per month with a recorded MRR
-- kind: table
-- engines: duckdb, spark
with history as (
    select * from typed_mrr_history
),

dropped_rows as (
    select distinct row_number from mrr_history_rejects where action = 'row_dropped'
)

select
    cast(h._row as bigint) as source_row,
    cast(h.account_id as varchar) as account_id,
    cast(h.month_start as date) as month_start,
    cast(h.mrr as double) as mrr
from history as h
left join dropped_rows as d on d.row_number = h._row
where d.row_number is null
