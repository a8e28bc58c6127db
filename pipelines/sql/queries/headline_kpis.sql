-- grain: one row per reference date: the as-of date ('as_of') and the same day a year earlier ('year_earlier'): the
-- headline KPIs of the selected cells' accounts, from their sums in headline_kpis_cells. analysis_cells is every
-- cell in the build; the app narrows it to the cells a filter selects, or counts a filtered subset as one cell.
with params as (
    select cast($as_of as date) as as_of_date
),

reference_dates as (
    select 'as_of' as period, as_of_date as ref_date from params
    union all
    select 'year_earlier', cast(as_of_date - interval 1 year as date) from params
),

sums as (
    select
        k.period,
        sum(k.active_accounts) as active_accounts,
        sum(k.mrr) as mrr,
        sum(k.accounts_a_year_before) as accounts_a_year_before,
        sum(k.churned_in_12_months) as churned_in_12_months,
        sum(k.start_mrr) as start_mrr,
        sum(k.retained_mrr_capped) as retained_mrr_capped,
        sum(k.end_mrr) as end_mrr
    from headline_kpis_cells as k
    join analysis_cells as selected on selected.cell_id = k.cell_id
    group by k.period
)

select
    r.period,
    r.ref_date,
    cast(coalesce(s.active_accounts, 0) as bigint) as active_accounts,
    cast(s.mrr as double) as mrr,
    cast(s.mrr * 12 as double) as arr,
    cast(s.churned_in_12_months * 1.0 / nullif(s.accounts_a_year_before, 0) as double) as logo_churn_12m,
    cast(s.retained_mrr_capped / nullif(s.start_mrr, 0) as double) as gross_revenue_retention_12m,
    cast(s.end_mrr / nullif(s.start_mrr, 0) as double) as net_revenue_retention_12m,
    cast(coalesce(s.accounts_a_year_before, 0) as bigint) as accounts_a_year_before
from reference_dates as r
left join sums as s on s.period = r.period
order by r.ref_date desc
