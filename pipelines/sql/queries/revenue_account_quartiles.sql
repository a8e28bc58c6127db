-- grain: one row per account per quartile of one service measure, over the account-months whose next month is known: that account's MRR this month and next month in the quartile, split into expansion, contraction and churn.
-- Template slot {measure}: an allow-listed, quoted account_months column (pipelines/revenue.py REVENUE_FACTORS).
-- Quartile 1 is the best service: with $higher_is_better (csat, agent updates) it holds the highest values,
-- otherwise the lowest (times, rates, counts). Cut points are values that occur in the rows; a value equal to
-- a cut point goes to the better quartile, so tied values never split (a measure that is mostly 0 can leave a
-- quartile empty, and then it has no row).
with params as (
    select case when cast($higher_is_better as boolean) then -1.0 else 1.0 end as worse_sign
),

panel as (
    select m.account_id, m.month_start, m.churned, m.mrr, m.{measure} as measure
    from account_months as m
    -- analysis_accounts is every account in the build; the app shadows it with a filtered subset
    join analysis_accounts as selected on selected.account_id = m.account_id
),

next_months as (
    select
        account_id,
        month_start,
        churned,
        mrr,
        measure,
        lead(mrr) over by_account as next_row_mrr,
        lead(month_start) over by_account is not null as has_next_month
    from panel
    window by_account as (partition by account_id order by month_start)
),

-- The outcome is known for a month the account churned in (next month's MRR is 0) or that has a following
-- month at risk; an active account's as-of month has no next month yet, so it is left out.
month_pairs as (
    select
        n.account_id,
        cast(n.measure as double) as measure,
        cast(n.measure as double) * p.worse_sign as worse_service,
        cast(n.churned as integer) as churned,
        cast(n.mrr as double) as mrr_this_month,
        cast(case when n.churned = 1 then 0.0 else n.next_row_mrr end as double) as mrr_next_month
    from next_months as n
    cross join params as p
    where n.measure is not null
        and n.mrr is not null
        and (n.churned = 1 or (n.has_next_month and n.next_row_mrr is not null))
),

cut_points as (
    select quantile_disc(worse_service, [0.25, 0.5, 0.75]) as cuts from month_pairs
),

with_quartile as (
    select
        m.*,
        1 + cast(m.worse_service > c.cuts[1] as integer)
            + cast(m.worse_service > c.cuts[2] as integer)
            + cast(m.worse_service > c.cuts[3] as integer) as quartile
    from month_pairs as m
    cross join cut_points as c
)

select
    cast(account_id as varchar) as account_id,
    cast(quartile as integer) as quartile,
    cast(count(*) as bigint) as n_account_months,
    cast(sum(churned) as bigint) as n_churned,
    cast(min(measure) as double) as measure_low,
    cast(max(measure) as double) as measure_high,
    cast(sum(mrr_this_month) as double) as starting_mrr,
    cast(sum(mrr_next_month) as double) as next_month_mrr,
    cast(sum(case when churned = 0 and mrr_next_month > mrr_this_month
        then mrr_next_month - mrr_this_month else 0 end) as double) as expansion_mrr,
    cast(sum(case when churned = 0 and mrr_next_month < mrr_this_month
        then mrr_this_month - mrr_next_month else 0 end) as double) as contraction_mrr,
    cast(sum(case when churned = 1 then mrr_this_month else 0 end) as double) as churned_mrr
from with_quartile
group by account_id, quartile
order by account_id, quartile
