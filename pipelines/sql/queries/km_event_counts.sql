-- grain: one row per group per duration day on which at least one account left the risk set
-- (churned, or censored at the as-of date). These per-day counts are all that the Kaplan-Meier,
-- Greenwood, log-rank and RMST sums need, so the accounts are read once, in one GROUP BY.
-- No ORDER BY: survival._split_groups orders the few thousand rows (groups, then days) for less than
-- DuckDB's sort operator costs here.
-- Template slots (filled by pipelines.filters.fill_template with TrustedSql only):
--   {group_value}      an allow-listed quoted column, a quartile bucket of one over bound $cut_1..$cut_3,
--                      or the constant 'all'
--   {filter_predicate} allow-listed quoted columns compared with bound $filter_<i> parameters, or true
with accounts as (
    select
        {group_value} as group_value,
        duration_days,
        churned,
        mrr
    from account_survival
    where {filter_predicate}
),

removals_per_day as (
    select
        group_value,
        cast(duration_days as bigint) as time_days,
        count(*) as n_removed,
        cast(sum(churned) as bigint) as n_events,
        -- revenue weights: accounts without an MRR are left out of the revenue curve and counted
        cast(coalesce(sum(mrr), 0) as double) as mrr_removed,
        cast(coalesce(sum(mrr) filter (where churned = 1), 0) as double) as mrr_events,
        count(*) - count(mrr) as n_mrr_missing
    from accounts
    group by group_value, duration_days
)

select *
from removals_per_day
