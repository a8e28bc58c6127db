-- grain: one row per churn cause per account among the $limit riskiest active accounts of the (filtered) analysis
-- set, the accounts at_risk_accounts lists (every one when $limit is NULL): the probability of churning from that
-- cause in the next 90 days, the causes competing. Empty when the build modelled no cause.
with riskiest as (
    select r.account_id
    from account_risk as r
    join analysis_accounts as selected on selected.account_id = r.account_id
    order by r.churn_probability_90d desc, r.risk_rank
    limit $limit
)

select
    c.account_id,
    c.churn_cause,
    c.churn_probability_90d
from account_cause_risk as c
join riskiest on riskiest.account_id = c.account_id
