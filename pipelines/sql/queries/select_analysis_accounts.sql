-- grain: one statement: a temp table analysis_accounts of the accounts matching {predicate}, a bound filter
-- predicate from pipelines.filters; the marts' own SQL then runs on the subset.
create temp table analysis_accounts as
select account_id
from account_survival
where {predicate}
