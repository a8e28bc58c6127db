-- grain: one row per calendar month per churn cause (voluntary, involuntary, unknown, or a cause the reasons file
-- names) with a churned account in the month: the churn of the selected cells' accounts that counts under the
-- cause, from the sums in kpi_monthly_cells. Summed over causes, the counts and MRR equal kpi_monthly's.
-- kind: table
-- engines: duckdb
with by_cause as (
    select
        k.month_start,
        k.churn_cause,
        sum(k.churned_accounts) as churned_accounts,
        sum(k.churned_from_start) as churned_from_start,
        sum(k.churned_mrr) as churned_mrr
    from kpi_monthly_cells as k
    join analysis_cells as selected on selected.cell_id = k.cell_id
    where k.churn_cause is not null
    group by k.month_start, k.churn_cause
)

select
    cast(month_start as date) as month_start,
    cast(churn_cause as varchar) as churn_cause,
    cast(churned_accounts as integer) as churned_accounts,
    cast(churned_from_start as integer) as churned_from_start,
    cast(coalesce(churned_mrr, 0) as double) as churned_mrr
from by_cause
order by month_start, churn_cause
