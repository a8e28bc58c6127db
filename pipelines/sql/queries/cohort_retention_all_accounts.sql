-- grain: one row per signup-month cohort per month since signup: the build's own cohort_retention,
-- which is 40_marts/cohort_retention.sql over every account at the build's as-of. The app reads it when
-- no filter narrows the accounts instead of running the mart again.
select *
from cohort_retention
order by cohort_month, months_since_signup
