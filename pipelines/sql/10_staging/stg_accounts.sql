-- grain: one row per account (unique account_id), typed; rows listed as row_dropped in account_rejects are left out
-- kind: table
-- engines: duckdb, spark
with accounts as (
    select * from typed_accounts
),

rejects as (
    select * from account_rejects
),

dropped_rows as (
    select distinct row_number from rejects where action = 'row_dropped'
),

nulled_mrr as (
    select distinct row_number from rejects where action = 'value_nulled' and column_name = 'mrr'
),

reason_causes as (
    select * from churn_reason_causes where reason_key is not null
),

other_reasons as (
    select any_value(cause) as cause from churn_reason_causes where reason_key is null
)

select
    cast(a._row as bigint) as source_row,
    cast(a.account_id as varchar) as account_id,
    cast(a.signup_date as date) as signup_date,
    cast(a.churn_date as date) as churn_date,
    cast(case when n.row_number is null then a.mrr end as double) as mrr,
    -- a reason on an account with no churn date is emptied (account_rejects says so)
    cast(case when a.churn_date is not null then a.churn_reason end as varchar) as churn_reason,
    -- the cause a churn counts under: the reasons file's, its other_reasons cause for a reason it does not list,
    -- 'unknown' for a churn with no reason; none for an account that has not churned
    cast(case
        when a.churn_date is null then null
        when a.churn_reason is null then 'unknown'
        else coalesce(c.cause, o.cause)
    end as varchar) as churn_cause
from accounts as a
cross join other_reasons as o
left join dropped_rows as d on d.row_number = a._row
left join nulled_mrr as n on n.row_number = a._row
left join reason_causes as c on c.reason_key = lower(trim(a.churn_reason))
where d.row_number is null
