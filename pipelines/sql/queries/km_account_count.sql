-- grain: one row: accounts in the database before any filter, to explain an empty filter result.
select cast(count(*) as bigint) as n_accounts
from account_survival
