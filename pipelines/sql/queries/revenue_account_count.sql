-- grain: one row: how many accounts have at least one month pair in revenue_account_quartiles.
select count(distinct account_id) as n_accounts
from revenue_account_quartiles
