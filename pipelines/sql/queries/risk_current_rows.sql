-- grain: one row per account still active at the end of the panel: its latest account_months row.
-- At the as-of date that is the month containing as-of (its measures were known before the month
-- started); on a panel truncated at a holdout cutoff it is the month containing the cutoff. An account
-- whose last row ends in churn has left; one that signed up on the last day has no row yet.
with panel as (
    select * from account_months
),

latest_rows as (
    select *
    from panel
    qualify row_number() over (partition by account_id order by month_start desc) = 1
)

select *
from latest_rows
where churned = 0
order by account_id
