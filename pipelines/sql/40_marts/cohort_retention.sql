-- grain: one row per signup-month cohort per month since signup, for months fully observed by as-of
with params as (
    select cast($as_of as date) as as_of_date
),

survival as (
    -- analysis_accounts is every account in the build; the app shadows it with a filtered subset
    select s.account_id, s.signup_cohort_month, s.churned, s.churn_date
    from account_survival as s
    join analysis_accounts as selected on selected.account_id = s.account_id
),

calendar as (
    select * from calendar_months
),

monthly_mrr as (
    select account_id, month_start, mrr from account_month_mrr
),

cohort_months as (
    select
        cohort.month_start as cohort_month,
        later.month_start,
        later.next_month_start,
        later.month_index - cohort.month_index as months_since_signup
    from calendar as cohort
    cross join params as p
    join calendar as later
        on later.month_index >= cohort.month_index
        and later.next_month_start <= p.as_of_date + 1
),

members as (
    select
        cm.cohort_month,
        cm.months_since_signup,
        s.account_id,
        -- retained through month k: no churn by the end of it (a churn on the next 1st ends month k)
        s.churned = 0 or s.churn_date > cm.next_month_start as is_retained,
        start_mrr.mrr as starting_mrr,
        month_mrr.mrr as month_mrr
    from cohort_months as cm
    join survival as s on s.signup_cohort_month = cm.cohort_month
    left join monthly_mrr as start_mrr on start_mrr.account_id = s.account_id and start_mrr.month_start = cm.cohort_month
    left join monthly_mrr as month_mrr on month_mrr.account_id = s.account_id and month_mrr.month_start = cm.month_start
)

select
    cast(cohort_month as date) as cohort_month,
    cast(months_since_signup as integer) as months_since_signup,
    cast(count(*) as integer) as cohort_accounts,
    cast(sum(case when is_retained then 1 else 0 end) as integer) as retained_accounts,
    cast(avg(case when is_retained then 1.0 else 0.0 end) as double) as retained_account_share,
    cast(sum(starting_mrr) as double) as cohort_starting_mrr,
    cast(sum(case when is_retained then month_mrr else 0 end) as double) as retained_mrr,
    cast(sum(case when is_retained then month_mrr else 0 end) / nullif(sum(starting_mrr), 0) as double)
        as revenue_retained_share
from members
group by cohort_month, months_since_signup
order by cohort_month, months_since_signup
