-- grain: one row per account per calendar month at risk, with the MRR in force that month
-- kind: table
-- engines: duckdb, spark
with accounts as (
    select account_id, mrr from stg_accounts
),

spans as (
    select account_id, month_start from account_month_spans
),

history as (
    select account_id, month_start, mrr from stg_mrr_history
),

history_bounds as (
    select account_id, min(month_start) as first_history_month from history group by account_id
),

first_history as (
    select h.account_id, h.mrr as first_history_mrr
    from history as h
    join history_bounds as b on b.account_id = h.account_id
    where h.month_start = b.first_history_month
),

spans_with_history as (
    select
        s.account_id,
        s.month_start,
        h.mrr as recorded_mrr,
        -- a month without a record keeps the last recorded MRR
        last_value(h.mrr ignore nulls) over (
            partition by s.account_id order by s.month_start rows between unbounded preceding and current row
        ) as carried_mrr
    from spans as s
    left join history as h on h.account_id = s.account_id and h.month_start = s.month_start
)

select
    cast(s.account_id as varchar) as account_id,
    cast(s.month_start as date) as month_start,
    -- before the first record, the first recorded MRR; with no history at all, the accounts file's MRR
    cast(coalesce(s.carried_mrr, f.first_history_mrr, a.mrr) as double) as mrr,
    cast(case
        when s.recorded_mrr is not null then 'recorded'
        when s.carried_mrr is not null then 'carried_forward'
        when f.first_history_mrr is not null then 'carried_back'
        when a.mrr is not null then 'accounts_file'
    end as varchar) as mrr_basis
from spans_with_history as s
join accounts as a on a.account_id = s.account_id
left join first_history as f on f.account_id = s.account_id
