-- grain: one row per account: its lifetime to churn or as-of (right-censored), segments, and lifetime
-- service aggregates for description only (the drivers model must use the no-look-ahead panel)
-- kind: table
-- engines: duckdb, spark
with params as (
    select cast($as_of as date) as as_of_date
),

accounts as (
    select * from stg_accounts
),

interactions as (
    select * from interaction_metrics
),

lifetime_service as (
    select
        account_id,
        count(*) as n_interactions_lifetime,
        -- rounded as the panel's medians are (account_month_service.sql), so both engines agree
        round(median(first_response_hours), 9) as first_response_hours_median_lifetime,
        round(median(resolution_hours), 9) as resolution_hours_median_lifetime,
        avg(csat) as csat_mean_lifetime,
        avg(cast(reopened as integer)) as reopen_rate_lifetime,
        avg(cast(sla_breached as integer)) as sla_breach_rate_lifetime,
        sum(credit_amount) as credits_lifetime
    from interactions
    group by account_id
),

survival as (
    select
        a.account_id,
        a.signup_date,
        a.churn_date,
        coalesce(a.churn_date <= p.as_of_date, false) as is_churned_by_as_of,
        date_diff('day', a.signup_date, case when a.churn_date <= p.as_of_date then a.churn_date else p.as_of_date end)
            as duration_days,
        cast(date_trunc('month', a.signup_date) as date) as signup_cohort_month,
        a.mrr,
        a.churn_cause
    from accounts as a
    cross join params as p
),

typed_survival as (
    select
        cast(s.account_id as varchar) as account_id,
        cast(s.signup_date as date) as signup_date,
        -- the churn date as given; a churn after as-of is not yet an event (see churned)
        cast(s.churn_date as date) as churn_date,
        cast(s.duration_days as integer) as duration_days,
        cast(case when s.is_churned_by_as_of then 1 else 0 end as integer) as churned,
        -- what the churn counts under (voluntary, involuntary, unknown, ...); none for an account still a customer
        cast(case when s.is_churned_by_as_of then s.churn_cause end as varchar) as churn_cause,
        cast(s.signup_cohort_month as date) as signup_cohort_month,
        cast(s.mrr as double) as mrr,
        cast(coalesce(l.n_interactions_lifetime, 0) as integer) as n_interactions_lifetime,
        cast(l.first_response_hours_median_lifetime as double) as first_response_hours_median_lifetime,
        cast(l.resolution_hours_median_lifetime as double) as resolution_hours_median_lifetime,
        cast(l.csat_mean_lifetime as double) as csat_mean_lifetime,
        cast(l.reopen_rate_lifetime as double) as reopen_rate_lifetime,
        cast(l.sla_breach_rate_lifetime as double) as sla_breach_rate_lifetime,
        cast(l.credits_lifetime as double) as credits_lifetime
    from survival as s
    left join lifetime_service as l on l.account_id = s.account_id
)

select *
from typed_survival
join stg_account_segments using (account_id)
order by account_id
