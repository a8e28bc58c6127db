-- grain: one row per signup-month cohort per month since signup, for months fully observed by as-of: the
-- retention of the selected cells' accounts, from their sums in cohort_retention_cells. analysis_cells is every
-- cell in the build; the app narrows it to the cells a filter selects, or counts a filtered subset as one cell.
-- kind: table
-- engines: duckdb
with cell_sums as (
    select
        k.cohort_month,
        k.months_since_signup,
        sum(k.cohort_accounts) as cohort_accounts,
        sum(k.retained_accounts) as retained_accounts,
        sum(k.cohort_starting_mrr) as starting_mrr,
        sum(k.retained_mrr) as retained_mrr
    from cohort_retention_cells as k
    join analysis_cells as selected on selected.cell_id = k.cell_id
    group by k.cohort_month, k.months_since_signup
),

cohort_cells as (
    select
        cohort_month,
        months_since_signup,
        cohort_accounts,
        retained_accounts,
        starting_mrr,
        -- a month's retained MRR counts the accounts that left as 0; with none left and none with an MRR, unknown
        case when retained_mrr is null and retained_accounts = cohort_accounts then null
            else coalesce(retained_mrr, 0) end as retained_mrr
    from cell_sums
)

select
    cast(cohort_month as date) as cohort_month,
    cast(months_since_signup as integer) as months_since_signup,
    cast(cohort_accounts as integer) as cohort_accounts,
    cast(retained_accounts as integer) as retained_accounts,
    cast(cast(retained_accounts as double) / cohort_accounts as double) as retained_account_share,
    cast(starting_mrr as double) as cohort_starting_mrr,
    cast(retained_mrr as double) as retained_mrr,
    cast(retained_mrr / nullif(starting_mrr, 0) as double) as revenue_retained_share
from cohort_cells
order by cohort_month, months_since_signup
