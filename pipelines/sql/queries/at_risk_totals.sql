-- grain: one row: over every active account in the (filtered) analysis set, how many were scored, the churns
-- expected in the next 90 days and the ARR at risk
select
    cast(count(*) as bigint) as accounts_scored,
    coalesce(sum(r.churn_probability_90d), 0) as expected_churns_90d,
    coalesce(sum(r.arr_at_risk), 0) as arr_at_risk
from account_risk as r
join analysis_accounts as selected on selected.account_id = r.account_id
