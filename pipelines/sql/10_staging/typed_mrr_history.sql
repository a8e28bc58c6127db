-- grain: one row per data row of the mrr_history file; each value typed, NULL where it did not parse
with source_rows as (
    select * from src_mrr_history
),

typed as (
    select
        _row,
        account_id,
        month as month_text,
        mrr as mrr_text,
        -- 'YYYY-MM' is the common spelling of a month; any date inside the month also names it
        cast(date_trunc('month', cast(cast(try_cast(
            case when length(month) = 7 then month || '-01' else month end as timestamptz
        ) as timestamp) as date)) as date) as month_start,
        try_cast(mrr as double) as mrr
    from source_rows
)

select * from typed
