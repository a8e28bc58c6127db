-- grain: one row per account still active at the end of the panel: its latest account_months row.
-- Stored by the build (the what-if reads these rows instead of every account-month) and run as it is on a
-- panel cut at a holdout's cutoff (models/risk.py, current_rows).
-- At the as-of date that is the month containing as-of (its measures were known before the month
-- started); on a panel truncated at a holdout cutoff it is the month containing the cutoff. An account
-- whose last row ends in churn has left; one that signed up on the last day has no row yet.
-- (account_id, month_start) is unique (audit unique_panel_rows), so the join on each account's latest
-- month finds exactly one row: the same rows as ranking the months, at a quarter of the cost at scale.
-- kind: table
-- engines: duckdb
with panel as (
    select * from account_months
),

latest_month_per_account as (
    select account_id, max(month_start) as month_start
    from panel
    group by account_id
),

latest_rows as (
    select panel.*
    from panel
    inner join latest_month_per_account
        on panel.account_id = latest_month_per_account.account_id
        and panel.month_start = latest_month_per_account.month_start
)

select *
from latest_rows
where churned = 0
