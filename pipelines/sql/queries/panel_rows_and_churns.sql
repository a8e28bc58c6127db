-- grain: one row: how many rows account_months holds on this connection, and how many of them end in churn.
select count(*) as n_rows, coalesce(sum(churned), 0) as n_churned
from account_months
