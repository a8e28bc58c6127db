-- The input digests of this build's inputs (sql/00_build/input_digests.sql), read from the loader's src views.
insert into input_digests
select 'accounts', cast(account_id as varchar), null, count(*), sum(hash(s))
from src_accounts as s
group by all
union all
select 'interactions', account_id, recent_month, n_rows, row_digest
from ({interaction_digests})
union all
select 'mrr_history', cast(account_id as varchar), null, count(*), sum(hash(s))
from src_mrr_history as s
group by all
