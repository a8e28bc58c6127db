-- grain: one row per group per duration day per churn cause on which at least one account left the risk set
-- (churned under that cause, or, with no cause, censored at the as-of date). These counts are all the cumulative
-- incidence of each cause needs (models/competing_risks.py, CauseIncidence), so the accounts are read once, in one
-- GROUP BY, with the same filters and groups as km_event_counts.sql. A churned account with no cause recorded
-- counts under $unknown_cause, as staging counts a churn with no reason.
-- No ORDER BY: the model orders the groups (as survival orders km_event_counts' rows).
-- Template slots (filled by pipelines.sqlrun.fill_template with TrustedSql only):
--   {group_value}      an allow-listed quoted column, a quartile bucket of one over bound $cut_1..$cut_3,
--                      or the constant 'all'
--   {filter_predicate} allow-listed quoted columns compared with bound $filter_<i> parameters, or true
with accounts as (
    select
        {group_value} as group_value,
        duration_days,
        churned,
        churn_cause
    from account_survival
    where {filter_predicate}
),

removals_per_day_and_cause as (
    select
        group_value,
        cast(duration_days as bigint) as time_days,
        cast(case when churned = 1 then coalesce(churn_cause, $unknown_cause) end as varchar) as churn_cause,
        cast(count(*) as bigint) as n_accounts
    from accounts
    group by all
)

select *
from removals_per_day_and_cause
