-- grain: one row per account that churned after the holdout cutoff and by as-of: days from the cutoff
-- to its churn. Accounts absent here did not churn in that time.
with params as (
    select cast($cutoff as date) as cutoff_date
),

survival as (
    select account_id, churn_date, churned from account_survival
)

select
    cast(s.account_id as varchar) as account_id,
    cast(date_diff('day', params.cutoff_date, s.churn_date) as integer) as days_to_churn
from survival as s
cross join params
where s.churned = 1 and s.churn_date > params.cutoff_date
order by s.account_id
