-- grain: one row per distinct value of one segment column ({column}, an allow-listed quoted column) among
-- the selected accounts (analysis_accounts: every account, or the app's scoped and filtered subset).
select distinct cast({column} as varchar) as level
from account_survival
where account_id in (select account_id from analysis_accounts)
order by 1
