-- accounts at the start of a month = previous start + new - churned in the previous month
with ordered as (
    select
        month_start,
        accounts_at_start,
        lag(accounts_at_start + new_accounts - churned_accounts) over (order by month_start) as expected_at_start
    from kpi_monthly
)

select * from ordered
where expected_at_start is not null and expected_at_start <> accounts_at_start
