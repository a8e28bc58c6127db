-- grain: one row per account per calendar month it was a customer: the MRR in force that month (account_month_mrr),
-- which the forecast reads up to its origin's month and a backtest after it; the account by its account_key, as
-- forecast_accounts numbers it.
with keyed as (
    select account_id, row_number() over (order by account_id) as account_key
    from account_survival
)
select cast(keyed.account_key as integer) as account_key, mrr.month_start, mrr.mrr
from account_month_mrr as mrr
join keyed using (account_id)
