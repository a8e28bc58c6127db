-- grain: one row per factor per account per quartile of that factor's service measure, over the account-months whose next month is known: that account's MRR this month and next month in the quartile, split into expansion, contraction and churn.
-- Template slots, both built in pipelines/revenue.py from its allow-list REVENUE_FACTORS:
--   {measure_columns}: the quoted account_months columns of the factors, as doubles (cast(m."x" as double) as "x", ...)
--   {factor_rows}: one VALUES row per factor: (factor name, measure column, -1.0 if higher is better else 1.0)
-- Quartile 1 is the best service: for a higher-is-better factor (csat, agent updates) it holds the highest
-- values, otherwise the lowest (times, rates, counts). Cut points are values that occur in the rows; a value
-- equal to a cut point goes to the better quartile, so tied values never split (a measure that is mostly 0
-- can leave a quartile empty, and then it has no row). Every factor is done in one pass over the panel.
with factors as (
    select * from (values {factor_rows}) as f(factor, measure_column, worse_sign)
),

panel as (
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
),

-- The outcome is known for a month the account churned in (next month's MRR is 0) or that has a following
-- month at risk; an active account's as-of month has no next month yet, so it is left out.
known_next_months as (
    select
        * exclude (month_start, next_row_mrr, has_next_month, churned, mrr),
        cast(churned as integer) as churned,
        cast(mrr as double) as mrr_this_month,
        cast(case when churned = 1 then 0.0 else next_row_mrr end as double) as mrr_next_month
    from next_months
    where mrr is not null
        and (churned = 1 or (has_next_month and next_row_mrr is not null))
),

-- one row per account-month per factor with a known measure (UNPIVOT leaves out NULL measures)
month_pairs as (
    select
        f.factor,
        u.account_id,
        u.measure,
        u.measure * f.worse_sign as worse_service,
        u.churned,
        u.mrr_this_month,
        u.mrr_next_month
    from (
        unpivot known_next_months
        on columns(* exclude (account_id, churned, mrr_this_month, mrr_next_month))
        into name measure_column value measure
    ) as u
    join factors as f on f.measure_column = u.measure_column
),

cut_points as (
    select factor, quantile_disc(worse_service, [0.25, 0.5, 0.75]) as cuts
    from month_pairs
    group by factor
),

with_quartile as (
    select
        m.*,
        1 + cast(m.worse_service > c.cuts[1] as integer)
            + cast(m.worse_service > c.cuts[2] as integer)
            + cast(m.worse_service > c.cuts[3] as integer) as quartile
    from month_pairs as m
    join cut_points as c on c.factor = m.factor
)

select
    cast(factor as varchar) as factor,
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
group by factor, account_id, quartile
