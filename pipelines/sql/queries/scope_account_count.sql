-- grain: one row: the number of accounts a roles file's scope selects ({predicate} is the scope's bound filter)
select count(*) as n_accounts
from account_survival
where {predicate}
