-- grain: one row per calendar month from the first signup month to the as-of month: the KPIs of the selected cells'
-- accounts, from their sums in kpi_monthly_cells. analysis_cells is every cell in the build; the app narrows it to
-- the cells a filter on segments selects (a lookup), or counts a filtered subset's accounts as one cell of its own.
-- kind: table
-- engines: duckdb
with params as (
    select cast($as_of as date) as as_of_date
),

calendar as (
    select * from calendar_months
),

monthly as (
    select
        k.month_start,
        sum(k.accounts_at_start) as accounts_at_start,
        sum(k.new_accounts) as new_accounts,
        sum(k.churned_accounts) as churned_accounts,
        sum(k.churned_from_start) as churned_from_start,
        sum(k.starting_mrr) as starting_mrr,
        sum(k.new_mrr) as new_mrr,
        sum(k.churned_mrr) as churned_mrr,
        sum(k.expansion_mrr) as expansion_mrr,
        sum(k.contraction_mrr) as contraction_mrr
    from kpi_monthly_cells as k
    join analysis_cells as selected on selected.cell_id = k.cell_id
    group by k.month_start
)

select
    cast(c.month_start as date) as month_start,
    cast(c.month_start <= p.as_of_date and c.next_month_start > p.as_of_date + 1 as boolean) as is_partial_month,
    cast(coalesce(m.accounts_at_start, 0) as integer) as accounts_at_start,
    cast(coalesce(m.new_accounts, 0) as integer) as new_accounts,
    cast(coalesce(m.churned_accounts, 0) as integer) as churned_accounts,
    cast(coalesce(m.churned_from_start, 0) as integer) as churned_from_start,
    cast(m.churned_from_start * 1.0 / nullif(m.accounts_at_start, 0) as double) as logo_churn_rate,
    cast(coalesce(m.starting_mrr, 0) as double) as starting_mrr,
    cast(coalesce(m.new_mrr, 0) as double) as new_mrr,
    cast(coalesce(m.churned_mrr, 0) as double) as churned_mrr,
    cast(coalesce(m.contraction_mrr, 0) as double) as contraction_mrr,
    cast(coalesce(m.expansion_mrr, 0) as double) as expansion_mrr,
    cast((m.starting_mrr - coalesce(m.churned_mrr, 0) - coalesce(m.contraction_mrr, 0)) / nullif(m.starting_mrr, 0)
        as double) as gross_revenue_retention,
    cast((m.starting_mrr - coalesce(m.churned_mrr, 0) - coalesce(m.contraction_mrr, 0) + coalesce(m.expansion_mrr, 0))
        / nullif(m.starting_mrr, 0) as double) as net_revenue_retention,
    cast(b.revenue_basis as varchar) as revenue_basis
from calendar as c
cross join params as p
cross join revenue_basis as b
left join monthly as m on m.month_start = c.month_start
order by c.month_start
