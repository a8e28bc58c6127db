-- grain: one row per staged account: the accounts the models read. The build analyses every account; the app
-- replaces this view in its own session with a person's scoped and filtered subset.
-- kind: view
-- engines: duckdb, spark
create view analysis_accounts as
select account_id
from stg_accounts
