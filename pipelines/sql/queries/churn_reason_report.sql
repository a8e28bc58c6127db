-- grain: one row per churn reason given by the churned accounts, and one for those giving none (churn_reason_report)
select reason, cause, mapped_by, accounts
from churn_reason_report
order by accounts desc, reason nulls last
