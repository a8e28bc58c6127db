-- grain: one row per calendar month from the earliest signup month to the as-of month
-- kind: table
-- engines: duckdb, spark
with params as (
    select cast($as_of as date) as as_of_date
),

bounds as (
    select cast(date_trunc('month', min(a.signup_date)) as date) as first_month_start, max(p.as_of_date) as as_of_date
    from stg_accounts as a
    cross join params as p
),

-- generate_series is DuckDB/Postgres syntax (Spark: sequence + explode): the one place a calendar is made
months as (
    select cast(gs.month_start as date) as month_start
    from bounds as b,
        generate_series(cast(b.first_month_start as timestamp), cast(b.as_of_date as timestamp), interval 1 month)
            as gs(month_start)
)

select
    cast(month_start as date) as month_start,
    cast(month_start + interval 1 month as date) as next_month_start,
    cast(row_number() over (order by month_start) - 1 as integer) as month_index
from months
