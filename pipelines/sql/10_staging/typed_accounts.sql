-- grain: one row per data row of the accounts file; each value typed, NULL where it did not parse.
-- A value arrives as text, or already typed from Parquet (load._parquet_view): every expression takes both.
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
        -- text via timestamptz so an offset is honoured (the session time zone is UTC, so naive means UTC);
        -- a Parquet DATE skips that round trip (typeof() is fixed per query: one branch remains)
        case when typeof(signup_date) = 'DATE' then try_cast(signup_date as date)
            else cast(cast(try_cast(signup_date as timestamptz) as timestamp) as date) end as signup_date,
        case when typeof(churn_date) = 'DATE' then try_cast(churn_date as date)
            else cast(cast(try_cast(churn_date as timestamptz) as timestamp) as date) end as churn_date,
        try_cast(mrr as double) as mrr
    from source_rows
)

select * from typed
