-- grain: one row per calendar month per churn cause: the build's own kpi_monthly_causes (every account at the
-- build's as-of), which the app reads when no filter narrows the accounts.
select *
from kpi_monthly_causes
order by month_start, churn_cause
