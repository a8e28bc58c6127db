-- grain: one row per account per calendar month at risk before the holdout cutoff: the panel as it
-- stood at the cutoff. Rows start before the cutoff, stop at it at the latest, and end in churn only if
-- the churn came by the cutoff. The measures need no change: each already uses only what was known
-- before its row's start.
-- It is read as a temporary view named account_months, which shadows the build's table on the calibration's own
-- cursor: {panel} names that table in its own catalog, and {cutoff} is a date literal, since a view takes no
-- parameter.
with params as (
    select cast({cutoff} as date) as cutoff_date
),

accounts as (
    select account_id, signup_date from account_survival
),

panel as (
    select * from {panel}
),

panel_with_cutoff as (
    select
        p.*,
        cast(date_diff('day', a.signup_date, params.cutoff_date) as integer) as cutoff_day
    from panel as p
    join accounts as a using (account_id)
    cross join params
    where p.month_start < params.cutoff_date
),

truncated as (
    select
        * exclude (cutoff_day) replace (
            cast(least(stop_day, cutoff_day) as integer) as stop_day,
            cast(case when churned = 1 and stop_day <= cutoff_day then 1 else 0 end as integer) as churned
        )
    from panel_with_cutoff
    where start_day < cutoff_day
)

select *
from truncated
