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
)

select
    cast(a._row as bigint) as source_row,
    cast(a.account_id as varchar) as account_id,
    cast(a.signup_date as date) as signup_date,
    cast(a.churn_date as date) as churn_date,
    cast(case when n.row_number is null then a.mrr end as double) as mrr
from accounts as a
left join dropped_rows as d on d.row_number = a._row
left join nulled_mrr as n on n.row_number = a._row
where d.row_number is null
