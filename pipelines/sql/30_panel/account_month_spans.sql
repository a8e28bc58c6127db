-- grain: one row per account per calendar month at risk, clipped to [signup, churn or as-of); no row has zero length
-- kind: temporary
-- engines: duckdb, spark
with params as (
    select cast($as_of as date) as as_of_date
),

accounts as (
    select * from stg_accounts
),

calendar as (
    select * from calendar_months
),

account_ends as (
    select
        a.account_id,
        a.signup_date,
        -- a churn after as-of is not yet known: the account is still active (right-censored) at as-of
        coalesce(a.churn_date <= p.as_of_date, false) as is_churned_by_as_of,
        a.churn_cause,
        case when a.churn_date <= p.as_of_date then a.churn_date else p.as_of_date end as end_date
    from accounts as a
    cross join params as p
),

spans as (
    select
        e.account_id,
        c.month_start,
        c.month_index,
        e.signup_date,
        greatest(c.month_start, e.signup_date) as row_start_date,
        least(c.next_month_start, e.end_date) as row_stop_date,
        e.is_churned_by_as_of,
        e.churn_cause,
        e.end_date
    from account_ends as e
    join calendar as c
        on c.month_start < e.end_date
        and c.next_month_start > e.signup_date
)

select
    cast(account_id as varchar) as account_id,
    cast(month_start as date) as month_start,
    cast(month_index as integer) as month_index,
    cast(row_start_date as date) as row_start_date,
    cast(row_stop_date as date) as row_stop_date,
    cast(date_diff('day', signup_date, row_start_date) as integer) as start_day,
    cast(date_diff('day', signup_date, row_stop_date) as integer) as stop_day,
    -- only the last row can end in churn; a churn on the 1st closes the previous month's row
    cast(case when is_churned_by_as_of and row_stop_date = end_date then 1 else 0 end as integer) as churned,
    -- the cause the churn counts under, on the churn row only (a cause-specific model censors the other causes)
    cast(case when is_churned_by_as_of and row_stop_date = end_date then churn_cause end as varchar) as churn_cause
from spans
where row_stop_date > row_start_date
