-- grain: one row per account per quartile of one factor's service measure, over the account-months of
-- revenue_month_pairs (whose next month is known): the account's MRR this month and next month in the
-- quartile, split into expansion, contraction and churn.
-- Template slot {measure}: an allow-listed, quoted column of revenue_month_pairs (pipelines/models/revenue.py).
-- Quartile 1 is the best service: with $higher_is_better (csat, agent updates) it holds the highest values,
-- otherwise the lowest (times, rates, counts). Cut points are values that occur in the rows; a value equal to
-- a cut point goes to the better quartile, so tied values never split (a measure that is mostly 0 can leave a
-- quartile empty, and then it has no row).
with params as (
    select
        cast($factor as varchar) as factor,
        case when cast($higher_is_better as boolean) then -1.0 else 1.0 end as worse_sign
),

month_pairs as (
    select
        m.account_id,
        m.{measure} as measure,
        m.{measure} * p.worse_sign as worse_service,
        m.churned,
        m.mrr_this_month,
        m.mrr_next_month
    from revenue_month_pairs as m
    cross join params as p
    where m.{measure} is not null
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
    cast(p.factor as varchar) as factor,
    cast(q.account_id as varchar) as account_id,
    cast(q.quartile as integer) as quartile,
    cast(count(*) as bigint) as n_account_months,
    cast(sum(q.churned) as bigint) as n_churned,
    cast(min(q.measure) as double) as measure_low,
    cast(max(q.measure) as double) as measure_high,
    cast(sum(q.mrr_this_month) as double) as starting_mrr,
    cast(sum(q.mrr_next_month) as double) as next_month_mrr,
    cast(sum(case when q.churned = 0 and q.mrr_next_month > q.mrr_this_month
        then q.mrr_next_month - q.mrr_this_month else 0 end) as double) as expansion_mrr,
    cast(sum(case when q.churned = 0 and q.mrr_next_month < q.mrr_this_month
        then q.mrr_this_month - q.mrr_next_month else 0 end) as double) as contraction_mrr,
    cast(sum(case when q.churned = 1 then q.mrr_this_month else 0 end) as double) as churned_mrr
from with_quartile as q
cross join params as p
group by p.factor, q.account_id, q.quartile
