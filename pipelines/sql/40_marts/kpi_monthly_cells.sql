-- grain: one row per segment cell (account_cells: the accounts that share the value of every segment the app
-- filters by) per calendar month in which a selected account of the cell is a member, per churn cause of the
-- month's churned accounts (NULL for the rest): the month's account counts and MRR movements as sums, which add up
-- over cells and causes (a sum is NULL where no account had an MRR). kpi_monthly.sql turns the sums of the selected
-- cells into the monthly KPIs, kpi_monthly_causes.sql the churn of each cause.
-- kind: table
-- engines: duckdb
with params as (
    select cast($as_of as date) as as_of_date
),

calendar as (
    select * from calendar_months
),

accounts as (
    select
        a.account_id,
        c.cell_id,
        a.signup_date,
        -- a churn after as-of has not happened yet
        case when a.churn_date <= p.as_of_date then a.churn_date end as churn_date,
        a.churn_cause
    from stg_accounts as a
    -- analysis_accounts is every account in the build; the app shadows it with a filtered subset
    join analysis_accounts as selected on selected.account_id = a.account_id
    join account_cells as c on c.account_id = a.account_id
    cross join params as p
),

-- the selected accounts' months only: joining every account's months costs most of a filtered view's time
monthly_mrr as (
    select m.account_id, m.month_start, m.mrr
    from account_month_mrr as m
    join accounts as a on a.account_id = m.account_id
),

-- Month membership follows the panel: a churn on the 1st ends the previous month, so an account
-- churns in month M when its churn date is in (M start, next M start]; a same-day churn counts in its signup month.
membership as (
    select
        c.month_start,
        c.next_month_start,
        a.account_id,
        a.cell_id,
        a.signup_date < c.month_start and (a.churn_date is null or a.churn_date > c.month_start) as is_active_at_start,
        a.signup_date >= c.month_start and a.signup_date < c.next_month_start as is_new,
        coalesce(
            (a.churn_date > c.month_start and a.churn_date <= c.next_month_start)
            or (a.churn_date = a.signup_date and a.signup_date >= c.month_start and a.signup_date < c.next_month_start),
            false
        ) as is_churned_in_month,
        a.churn_cause
    from calendar as c
    join accounts as a
        on a.signup_date < c.next_month_start
        and (a.churn_date is null or a.churn_date >= c.month_start)
),

with_mrr as (
    select
        m.*,
        prev.mrr as mrr_previous_month,
        cur.mrr as mrr_this_month
    from membership as m
    join calendar as c on c.month_start = m.month_start
    left join calendar as prev_month on prev_month.month_index = c.month_index - 1
    left join monthly_mrr as prev on prev.account_id = m.account_id and prev.month_start = prev_month.month_start
    left join monthly_mrr as cur on cur.account_id = m.account_id and cur.month_start = m.month_start
)

select
    cast(cell_id as integer) as cell_id,
    cast(month_start as date) as month_start,
    cast(case when is_churned_in_month then churn_cause end as varchar) as churn_cause,
    cast(sum(case when is_active_at_start then 1 else 0 end) as bigint) as accounts_at_start,
    cast(sum(case when is_new then 1 else 0 end) as bigint) as new_accounts,
    cast(sum(case when is_churned_in_month then 1 else 0 end) as bigint) as churned_accounts,
    cast(sum(case when is_active_at_start and is_churned_in_month then 1 else 0 end) as bigint) as churned_from_start,
    cast(sum(case when is_active_at_start then mrr_previous_month end) as double) as starting_mrr,
    cast(sum(case when is_new then mrr_this_month end) as double) as new_mrr,
    cast(sum(case when is_active_at_start and is_churned_in_month then mrr_previous_month end) as double)
        as churned_mrr,
    cast(sum(case when is_active_at_start and not is_churned_in_month and mrr_this_month > mrr_previous_month
        then mrr_this_month - mrr_previous_month end) as double) as expansion_mrr,
    cast(sum(case when is_active_at_start and not is_churned_in_month and mrr_this_month < mrr_previous_month
        then mrr_previous_month - mrr_this_month end) as double) as contraction_mrr
from with_mrr
group by cell_id, month_start, case when is_churned_in_month then churn_cause end
