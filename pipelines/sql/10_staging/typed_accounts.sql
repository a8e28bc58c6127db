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
        -- Only ISO 8601 shapes are parsed (YYYY-MM-DD, a time and an offset optional): beyond them DuckDB and Spark
        -- disagree (DuckDB takes 2024/03/05 and 24:00, Spark takes 2024 and 2024-03-05T10), and the rejects must not
        -- depend on the engine.
        case when typeof(signup_date) = 'DATE' then try_cast(signup_date as date)
            else cast(cast(try_cast(case when regexp_matches(cast(signup_date as varchar),
                '^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([T ]([01]?[0-9]|2[0-3]):[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)?( ?(Z|UTC|[+-][0-9]{2}(:?[0-9]{2})?))?$')
                then signup_date end as timestamptz) as timestamp) as date) end as signup_date,
        case when typeof(churn_date) = 'DATE' then try_cast(churn_date as date)
            else cast(cast(try_cast(case when regexp_matches(cast(churn_date as varchar),
                '^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([T ]([01]?[0-9]|2[0-3]):[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)?( ?(Z|UTC|[+-][0-9]{2}(:?[0-9]{2})?))?$')
                then churn_date end as timestamptz) as timestamp) as date) end as churn_date,
        -- Plain decimal numbers only: DuckDB also takes 1_000, Spark 1d and 1f.
        try_cast(case when regexp_matches(cast(mrr as varchar),
            '^ *[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)? *$')
            then mrr end as double) as mrr
    from source_rows
)

select * from typed
