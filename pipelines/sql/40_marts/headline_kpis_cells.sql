-- grain: one row per segment cell (account_cells) per reference date (the as-of date, 'as_of', and the same day a
-- year earlier, 'year_earlier') at which the cell has an active account or one active a year before: the counts
-- and MRR sums the headline KPIs are made of, which add up over cells (an MRR sum is NULL where no account had one).
-- queries/headline_kpis.sql turns the sums of the selected cells into the KPIs.
-- kind: table
-- engines: duckdb
with params as (
    select cast($as_of as date) as as_of_date
),

reference_dates as (
    select 'as_of' as period, as_of_date as ref_date from params
    union all
    select 'year_earlier', cast(as_of_date - interval 1 year as date) from params
),

accounts as (
    select s.account_id, c.cell_id, s.signup_date, case when s.churned = 1 then s.churn_date end as churn_date
    from account_survival as s
    join analysis_accounts as selected on selected.account_id = s.account_id
    join account_cells as c on c.account_id = s.account_id
),

-- the selected accounts' MRR in the months read below (each reference date's month and the month a year before)
monthly_mrr as (
    select m.account_id, m.month_start, m.mrr
    from account_month_mrr as m
    join accounts as a on a.account_id = m.account_id
    where m.month_start in (
        select cast(date_trunc('month', ref_date) as date) from reference_dates
        union all
        select cast(date_trunc('month', ref_date - interval 1 year) as date) from reference_dates
    )
),

-- active at a date: signed up by then and not yet churned
active_at as (
    select r.period, r.ref_date, a.account_id, a.cell_id, m.mrr
    from reference_dates as r
    join accounts as a
        on a.signup_date <= r.ref_date and (a.churn_date is null or a.churn_date > r.ref_date)
    left join monthly_mrr as m
        on m.account_id = a.account_id and m.month_start = cast(date_trunc('month', r.ref_date) as date)
),

-- the twelve months before each reference date: who was active at their start, and what they became
twelve_months as (
    select
        r.period,
        a.account_id,
        a.cell_id,
        start_mrr.mrr as start_mrr,
        case when a.churn_date is not null and a.churn_date <= r.ref_date then 0 else end_mrr.mrr end as end_mrr,
        coalesce(a.churn_date <= r.ref_date, false) as is_churned
    from reference_dates as r
    join accounts as a
        on a.signup_date <= cast(r.ref_date - interval 1 year as date)
        and (a.churn_date is null or a.churn_date > cast(r.ref_date - interval 1 year as date))
    left join monthly_mrr as start_mrr
        on start_mrr.account_id = a.account_id
        and start_mrr.month_start = cast(date_trunc('month', r.ref_date - interval 1 year) as date)
    left join monthly_mrr as end_mrr
        on end_mrr.account_id = a.account_id
        and end_mrr.month_start = cast(date_trunc('month', r.ref_date) as date)
),

active_summary as (
    select cell_id, period, count(*) as active_accounts, sum(mrr) as mrr
    from active_at
    group by cell_id, period
),

retention_summary as (
    select
        cell_id,
        period,
        count(*) as accounts_a_year_before,
        sum(case when is_churned then 1 else 0 end) as churned_in_12_months,
        sum(start_mrr) as start_mrr,
        sum(case when start_mrr is not null then least(end_mrr, start_mrr) end) as retained_mrr_capped,
        sum(case when start_mrr is not null then end_mrr end) as end_mrr
    from twelve_months
    group by cell_id, period
)

select
    cast(coalesce(a.cell_id, t.cell_id) as integer) as cell_id,
    cast(coalesce(a.period, t.period) as varchar) as period,
    cast(coalesce(a.active_accounts, 0) as bigint) as active_accounts,
    cast(a.mrr as double) as mrr,
    cast(coalesce(t.accounts_a_year_before, 0) as bigint) as accounts_a_year_before,
    cast(coalesce(t.churned_in_12_months, 0) as bigint) as churned_in_12_months,
    cast(t.start_mrr as double) as start_mrr,
    cast(t.retained_mrr_capped as double) as retained_mrr_capped,
    cast(t.end_mrr as double) as end_mrr
from active_summary as a
full join retention_summary as t on t.cell_id = a.cell_id and t.period = a.period
