-- grain: one row per account with at least one panel row that passes {predicate} (the filters, on
-- account_survival's columns, values bound as $filter_<i>). Taken from account_survival, one row per account, with
-- the panel only probed for membership: a distinct over every account-month is the slower way to the same set.
select account_id
from account_survival
where {predicate}
  and account_id in (select account_id from account_months)
