-- grain: one row per data row of the mrr_history file; each value typed, NULL where it did not parse.
-- A value arrives as text, or already typed from Parquet (load._parquet_view): every expression takes both.
-- kind: temporary
-- engines: duckdb, spark
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
        -- Only ISO 8601 shapes are parsed ($iso_timestamp_pattern), so the rejects do not depend on the engine
        -- (contract.ISO_TIMESTAMP_PATTERN: what each engine would take beyond them).
        case when typeof(month) = 'DATE' then cast(date_trunc('month', try_cast(month as date)) as date)
        else cast(date_trunc('month', cast(cast(coalesce(
            try_cast(case when regexp_matches(cast(month as varchar),
                $iso_timestamp_pattern)
                then month end as timestamptz),
            case when length(cast(month as varchar)) = 7 then try_cast(case when regexp_matches(cast((cast(month as varchar) || '-01') as varchar),
                $iso_timestamp_pattern)
                then (cast(month as varchar) || '-01') end as timestamptz) end
        ) as timestamp) as date)) as date) end as month_start,
        -- Text: plain decimal numbers only ($plain_number_pattern): DuckDB also takes 1_000, Spark 1d and 1f.
        -- A number typed in a Parquet file skips the pattern; only a float's infinity would fail it (x - x is
        -- NaN for it alone).
        case
            when typeof(mrr) = 'VARCHAR' then try_cast(
                case when regexp_matches(cast(mrr as varchar), $plain_number_pattern) then mrr end as double)
            when cast(mrr as double) - cast(mrr as double) = 0 then cast(mrr as double)
        end as mrr
    from source_rows
)

select * from typed
