-- grain: one row per factor per account per quartile of revenue_account_quartiles, as numbers for the
-- bootstrap: the summary row it adds to (group_index, in revenue_quartile_summary.sql's order), the account
-- (account_index, in account_id order, so a seed gives each account the same weights whatever the factors)
-- and its starting and next-month MRR.
with summary_rows as (
    select factor, quartile, cast(row_number() over (order by factor, quartile) - 1 as integer) as group_index
    from (select distinct factor, quartile from revenue_account_quartiles)
),

accounts as (
    select account_id, cast(row_number() over (order by account_id) - 1 as integer) as account_index
    from (select distinct account_id from revenue_account_quartiles)
)

select
    s.group_index,
    a.account_index,
    cast(r.starting_mrr as double) as starting_mrr,
    cast(r.next_month_mrr as double) as next_month_mrr
from revenue_account_quartiles as r
join summary_rows as s on s.factor = r.factor and s.quartile = r.quartile
join accounts as a on a.account_id = r.account_id
