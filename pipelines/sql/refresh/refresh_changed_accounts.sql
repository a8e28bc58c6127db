-- The accounts whose input rows differ from the previous build's, by the digests each build stores
-- (sql/00_build/input_digests.sql): any change to an accounts or MRR row, a new or removed one; and any change to
-- the interactions the previous build read (its first $previous_interaction_rows rows). Interactions appended
-- after those are new rows, which refresh_accounts handles; a NULL account_id stands for the rows without one.
with interaction_digests as (
    select cast(account_id as varchar) as account_id, count(*) as n_rows, sum(hash(s)) as row_digest
    from src_interactions as s
    where _row <= $previous_interaction_rows
    group by all
),

current_digests as (
    select 'accounts' as source, cast(account_id as varchar) as account_id, count(*) as n_rows,
        sum(hash(s)) as row_digest
    from src_accounts as s
    group by all
    union all
    select 'interactions', account_id, n_rows, row_digest from interaction_digests
    union all
    select 'mrr_history', cast(account_id as varchar), count(*), sum(hash(s))
    from src_mrr_history as s
    group by all
)

select distinct coalesce(c.account_id, p.account_id) as account_id
from current_digests as c
full join previous_input_digests as p
    on p.source = c.source and p.account_id is not distinct from c.account_id
where c.n_rows is distinct from p.n_rows or c.row_digest is distinct from p.row_digest
