-- grain: one row per churn cause among the accounts churned by as-of: how many accounts churned from it, most first.
select
    churn_cause,
    cast(count(*) as integer) as churned_accounts
from account_survival
where churned = 1
group by churn_cause
order by churned_accounts desc, churn_cause
