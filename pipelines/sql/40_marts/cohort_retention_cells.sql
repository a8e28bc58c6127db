-- grain: one row per segment cell (account_cells) per signup-month cohort per month since signup, for months fully
-- observed by as-of: the cell's members of the cohort, those retained through the month, the cohort's MRR in its
-- signup month and the retained members' MRR in the month, as sums that add up over cells (an MRR sum is NULL
-- where no member had one). cohort_retention.sql turns the sums of the selected cells into retention shares.
-- kind: table
-- engines: duckdb
with params as (
    select cast($as_of as date) as as_of_date
),

survival as (
    -- analysis_accounts is every account in the build; the app shadows it with a filtered subset
    select s.account_id, c.cell_id, s.signup_cohort_month, s.churned, s.churn_date
    from account_survival as s
    join analysis_accounts as selected on selected.account_id = s.account_id
    join account_cells as c on c.account_id = s.account_id
),

calendar as (
    select * from calendar_months
),

-- the selected accounts' months only: joining every account's months costs most of a filtered view's time
monthly_mrr as (
    select m.account_id, m.month_start, m.mrr
    from account_month_mrr as m
    join survival as s on s.account_id = m.account_id
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
        s.cell_id,
        cm.cohort_month,
        cm.months_since_signup,
        -- retained through month k: no churn by the end of it (a churn on the next 1st ends month k)
        s.churned = 0 or s.churn_date > cm.next_month_start as is_retained
    from cohort_months as cm
    join survival as s on s.signup_cohort_month = cm.cohort_month
),

member_counts as (
    select
        cell_id,
        cohort_month,
        months_since_signup,
        count(*) as cohort_accounts,
        sum(case when is_retained then 1 else 0 end) as retained_accounts
    from members
    group by cell_id, cohort_month, months_since_signup
),

-- the cohort's MRR in its signup month (the same for every month since signup); the sums below join each
-- account's months on the account alone, not every member month on (account, month)
cohort_starting_mrr as (
    select s.cell_id, s.signup_cohort_month as cohort_month, sum(m.mrr) as starting_mrr
    from survival as s
    join monthly_mrr as m on m.account_id = s.account_id and m.month_start = s.signup_cohort_month
    group by s.cell_id, s.signup_cohort_month
),

retained_month_mrr as (
    select s.cell_id, cm.cohort_month, cm.months_since_signup, sum(m.mrr) as retained_mrr
    from monthly_mrr as m
    join survival as s on s.account_id = m.account_id
    join cohort_months as cm on cm.cohort_month = s.signup_cohort_month and cm.month_start = m.month_start
    where s.churned = 0 or s.churn_date > cm.next_month_start
    group by s.cell_id, cm.cohort_month, cm.months_since_signup
)

select
    cast(c.cell_id as integer) as cell_id,
    cast(c.cohort_month as date) as cohort_month,
    cast(c.months_since_signup as integer) as months_since_signup,
    cast(c.cohort_accounts as bigint) as cohort_accounts,
    cast(c.retained_accounts as bigint) as retained_accounts,
    cast(st.starting_mrr as double) as cohort_starting_mrr,
    cast(r.retained_mrr as double) as retained_mrr
from member_counts as c
left join cohort_starting_mrr as st on st.cell_id = c.cell_id and st.cohort_month = c.cohort_month
left join retained_month_mrr as r
    on r.cell_id = c.cell_id and r.cohort_month = c.cohort_month and r.months_since_signup = c.months_since_signup
