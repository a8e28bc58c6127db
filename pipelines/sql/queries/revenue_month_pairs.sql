-- grain: one row per account-month whose next month's revenue is known: the month's MRR, the next month's
-- (0 after a churn) and every service measure of the revenue factors. The outcome is known for a month the
-- account churned in or one that has a following month at risk; an active account's as-of month has no
-- next month yet, so it is left out. Made once per fit (a temp table), then cut into quartiles per factor
-- by revenue_account_quartiles.sql.
-- Template slot {measure_columns}: the quoted account_months columns of the factors, as doubles
-- (cast(m."x" as double) as "x", ...), built in pipelines/models/revenue.py from its allow-list REVENUE_FACTORS.
with panel as (
    select m.account_id, m.month_start, m.churned, m.mrr, {measure_columns}
    from account_months as m
    -- analysis_accounts is every account in the build; the app shadows it with a filtered subset
    join analysis_accounts as selected on selected.account_id = m.account_id
),

next_months as (
    select
        *,
        lead(mrr) over by_account as next_row_mrr,
        lead(month_start) over by_account is not null as has_next_month
    from panel
    window by_account as (partition by account_id order by month_start)
)

select
    * exclude (month_start, next_row_mrr, has_next_month, churned, mrr),
    cast(churned as integer) as churned,
    cast(mrr as double) as mrr_this_month,
    cast(case when churned = 1 then 0.0 else next_row_mrr end as double) as mrr_next_month
from next_months
where mrr is not null
    and (churned = 1 or (has_next_month and next_row_mrr is not null))
