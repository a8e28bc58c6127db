-- grain: one row per data row of the accounts file; each value typed, NULL where it did not parse.
-- A value arrives as text, or already typed from Parquet (load._parquet_view): every expression takes both.
-- kind: temporary
-- engines: duckdb, spark
with source_rows as (
    select * from src_accounts
),

typed as (
    select
        _row,
        account_id,
        signup_date as signup_date_raw,
        churn_date as churn_date_raw,
        mrr as mrr_raw,
        -- free text as the billing tool wrote it; the reasons file maps it to a cause (stg_accounts)
        nullif(trim(cast(churn_reason as varchar)), '') as churn_reason,
        -- text via timestamptz so an offset is honoured (the session time zone is UTC, so naive means UTC);
        -- a Parquet DATE skips that round trip (typeof() is fixed per query: one branch remains)
        -- Only ISO 8601 shapes are parsed ($iso_timestamp_pattern), so the rejects do not depend on the engine
        -- (contract.ISO_TIMESTAMP_PATTERN: what each engine would take beyond them).
        case when typeof(signup_date) = 'DATE' then try_cast(signup_date as date)
            else cast(cast(try_cast(case when regexp_matches(cast(signup_date as varchar),
                $iso_timestamp_pattern)
                then signup_date end as timestamptz) as timestamp) as date) end as signup_date,
        case when typeof(churn_date) = 'DATE' then try_cast(churn_date as date)
            else cast(cast(try_cast(case when regexp_matches(cast(churn_date as varchar),
                $iso_timestamp_pattern)
                then churn_date end as timestamptz) as timestamp) as date) end as churn_date,
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
