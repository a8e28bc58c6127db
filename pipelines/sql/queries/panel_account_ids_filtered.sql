-- grain: one row per account with at least one panel row that passes {predicate} (the filters, on
-- account_survival's columns, values bound as $filter_<i>).
select distinct account_id
from account_months
where account_id in (select account_id from account_survival where {predicate})
