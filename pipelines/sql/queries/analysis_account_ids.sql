-- grain: one row per account of the current selection (analysis_accounts).
select account_id
from analysis_accounts
