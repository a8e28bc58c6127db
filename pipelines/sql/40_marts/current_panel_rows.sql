-- grain: one row per account still active at the end of the panel: its latest account_months row.
-- Stored by the build (the what-if reads these rows instead of every account-month) and run as it is on a
-- panel cut at a holdout's cutoff (models/risk.py, current_rows).
-- At the as-of date that is the month containing as-of (its measures were known before the month
-- started); on a panel truncated at a holdout cutoff it is the month containing the cutoff. An account
-- whose last row ends in churn has left; one that signed up on the last day has no row yet.
-- (account_id, month_start) is unique (audit unique_panel_rows), so the rows whose month is their account's
-- latest are exactly one per account: the same rows as ranking the months or joining each account's latest
-- month back, and this windowed maximum reads the panel once without sorting within accounts.
-- kind: table
-- engines: duckdb
with panel as (
    select * from account_months
),

latest_rows as (
    select *
    from panel
    qualify month_start = max(month_start) over (partition by account_id)
)

select *
from latest_rows
where churned = 0
