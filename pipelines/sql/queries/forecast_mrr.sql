-- grain: one row per account per calendar month it was a customer: the MRR in force that month (account_month_mrr),
-- which the forecast reads up to its origin's month and a backtest after it.
select account_id, month_start, mrr
from account_month_mrr
