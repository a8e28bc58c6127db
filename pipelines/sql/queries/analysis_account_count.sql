-- grain: one row: how many accounts the current selection (analysis_accounts) holds.
select count(*) as n_accounts
from analysis_accounts
