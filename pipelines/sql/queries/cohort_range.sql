-- grain: one row: the first and last signup cohort month among the selected accounts (analysis_accounts).
select min(signup_cohort_month) as first_cohort_month, max(signup_cohort_month) as last_cohort_month
from account_survival
where account_id in (select account_id from analysis_accounts)
