-- grain: one row per account still active at the end of the panel: its latest account_months row.
-- Stored by the build (the what-if reads these rows instead of every account-month) and run as it is on a
-- panel cut at a holdout's cutoff (models/risk.py, current_rows).
-- At the as-of date that is the month containing as-of (its measures were known before the month
-- started); on a panel truncated at a holdout cutoff it is the month containing the cutoff. An account
-- whose last row ends in churn has left; one that signed up on the last day has no row yet.
-- (account_id, month_start) is unique (audit unique_panel_rows), so the rows whose month is their account's
-- latest are exactly one per account: the same rows as ranking the months. Each account's latest month is found
-- from two narrow columns and its row kept by a semi-join, with no sort: a windowed maximum carries every column
-- through the window, which costs several times more where the panel is a view (a holdout's cutoff). The panel is
-- read twice, not materialized once, which would copy every column of it.
-- kind: table
-- engines: duckdb
with panel as not materialized (
    select * from account_months
),

latest_months as (
    select account_id, max(month_start) as month_start
    from panel
    group by account_id
),

latest_rows as (
    select *
    from panel
    semi join latest_months using (account_id, month_start)
)

select *
from latest_rows
where churned = 0
