-- grain: one row per data row of the mrr_history file; each value typed, NULL where it did not parse.
-- A value arrives as text, or already typed from Parquet (load._parquet_view): every expression takes both.
with source_rows as (
    select * from src_mrr_history
),

typed as (
    select
        _row,
        account_id,
        month as month_raw,
        mrr as mrr_raw,
        -- 'YYYY-MM' is the common spelling of a month; any date inside the month also names it
        -- (a Parquet DATE skips the time zone round trip; a TIMESTAMP takes the first branch of coalesce)
        case when typeof(month) = 'DATE' then cast(date_trunc('month', try_cast(month as date)) as date)
        else cast(date_trunc('month', cast(cast(coalesce(
            try_cast(month as timestamptz),
            case when length(cast(month as varchar)) = 7 then try_cast(cast(month as varchar) || '-01' as timestamptz) end
        ) as timestamp) as date)) as date) end as month_start,
        try_cast(mrr as double) as mrr
    from source_rows
)

select * from typed
