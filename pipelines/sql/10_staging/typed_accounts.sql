-- grain: one row per data row of the accounts file; each value typed, NULL where it did not parse
with source_rows as (
    select * from src_accounts
),

typed as (
    select
        _row,
        account_id,
        signup_date as signup_date_text,
        churn_date as churn_date_text,
        mrr as mrr_text,
        -- via timestamptz so an offset is honoured; the session time zone is UTC, so naive means UTC
        cast(cast(try_cast(signup_date as timestamptz) as timestamp) as date) as signup_date,
        cast(cast(try_cast(churn_date as timestamptz) as timestamp) as date) as churn_date,
        try_cast(mrr as double) as mrr
    from source_rows
)

select * from typed
