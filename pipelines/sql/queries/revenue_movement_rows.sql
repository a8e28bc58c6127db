-- grain: one row per account-month of an account still a customer at the month's end whose next month is
-- known: whether its MRR rose (expansion) or fell (contraction) into the next month, with every panel column
-- (the service measures known before the month began, case mix, volume, segments). Churn itself is the churn
-- models' outcome, so a churned month is left out here. With $sampled, only the accounts listed in
-- revenue_sample_accounts (registered by the caller) are read.
with panel as (
    select *
    from account_months
    where not $sampled or account_id in (select account_id from revenue_sample_accounts)
),

next_months as (
    select
        *,
        lead(mrr) over (partition by account_id order by month_start) as next_month_mrr
    from panel
)

select
    * exclude (next_month_mrr),
    cast(next_month_mrr > mrr as integer) as expanded,
    cast(next_month_mrr < mrr as integer) as contracted
from next_months
where churned = 0 and mrr is not null and next_month_mrr is not null
-- in a fixed order, as panel_rows reads: a fit's sums taken in another order differ in their last bits
order by account_id, month_start
