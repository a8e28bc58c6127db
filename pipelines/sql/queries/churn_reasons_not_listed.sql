-- grain: one row per churn reason the reasons file does not list, and one for churned accounts with no reason:
-- what the build says of them (the churn_reason_report rows not mapped by the file), most accounts first.
select reason, cause, mapped_by, accounts
from churn_reason_report
where mapped_by <> 'listed in the reasons file'
order by accounts desc, reason
