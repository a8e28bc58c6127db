-- grain: one row per active account in the (filtered) analysis set, riskiest first; the first $limit of them
-- (every one when $limit is NULL)
select r.*
from account_risk as r
join analysis_accounts as selected on selected.account_id = r.account_id
order by r.churn_probability_90d desc, r.risk_rank
limit $limit
