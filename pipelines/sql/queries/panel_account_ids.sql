-- grain: one row per account with at least one panel row.
select distinct account_id
from account_months
