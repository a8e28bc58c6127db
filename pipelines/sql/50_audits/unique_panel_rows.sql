-- account_months has one row per account and month
select account_id, month_start, count(*) as n_rows
from account_months
group by account_id, month_start
having count(*) > 1
