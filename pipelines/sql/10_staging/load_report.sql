-- grain: one row per input source; rows_read = rows_loaded + rows_dropped, always
-- kind: table
-- engines: duckdb, spark
with rows_read as (
    select 'accounts' as source, count(*) as rows_read from src_accounts
    union all
    select 'interactions', count(*) from src_interactions
    union all
    select 'mrr_history', count(*) from src_mrr_history
),

rows_loaded as (
    select 'accounts' as source, count(*) as rows_loaded from stg_accounts
    union all
    select 'interactions', count(*) from stg_interactions
    union all
    select 'mrr_history', count(*) from stg_mrr_history
),

reject_counts as (
    select
        source,
        count(distinct case when action = 'row_dropped' then row_number end) as rows_dropped,
        sum(case when action = 'value_nulled' then 1 else 0 end) as values_nulled,
        count(distinct case when action = 'row_dropped' and reason like 'after the as-of date%' then row_number end)
            as rows_after_as_of
    from rejected_rows
    group by source
)

select
    r.source,
    cast(r.rows_read as bigint) as rows_read,
    cast(l.rows_loaded as bigint) as rows_loaded,
    cast(coalesce(c.rows_dropped, 0) as bigint) as rows_dropped,
    cast(coalesce(c.values_nulled, 0) as bigint) as values_nulled,
    cast(coalesce(c.rows_after_as_of, 0) as bigint) as rows_after_as_of
from rows_read as r
join rows_loaded as l on l.source = r.source
left join reject_counts as c on c.source = r.source
where r.source in (select source from input_sources)
order by case r.source when 'accounts' then 1 when 'interactions' then 2 else 3 end
