-- grain: one row per calendar month from the first signup month to the as-of month: the build's own
-- kpi_monthly, which is 40_marts/kpi_monthly.sql over every account at the build's as-of. The app reads
-- it when no filter narrows the accounts instead of running the mart again (about a second at 100,000).
select *
from kpi_monthly
order by month_start
