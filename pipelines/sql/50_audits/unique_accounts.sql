-- An audit returns the offending rows: zero rows means it passed.
-- stg_accounts has one row per account_id
select account_id, count(*) as n_rows
from stg_accounts
group by account_id
having count(*) > 1
