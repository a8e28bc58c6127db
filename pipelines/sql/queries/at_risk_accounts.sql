-- grain: one row per active account in the (filtered) analysis set, riskiest first; the first $limit of them
-- (every one when $limit is NULL). risk_rank is the rank within the selection, so a book's riskiest is 1, not
-- its place among every account of the company.
select r.* replace (row_number() over (order by r.churn_probability_90d desc, r.risk_rank) as risk_rank)
from account_risk as r
join analysis_accounts as selected on selected.account_id = r.account_id
order by risk_rank
limit $limit
