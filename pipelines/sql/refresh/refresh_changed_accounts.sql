-- The accounts whose input rows differ from the previous build's, by the digests each build stores
-- (sql/00_build/input_digests.sql; refresh_input_digests holds the inputs' as read now), and the month from which
-- their rows are recomputed: none (all of them) for any change to an accounts or MRR row, a new or removed one, or
-- to interactions the previous build counted under no month; the month before the first changed month otherwise.
-- Only the interactions the previous build read (its first rows, up to the previous build's count) are compared:
-- those appended after are new, which refresh_accounts handles. A NULL account_id stands for the rows without one.
with current_digests as (
    select * from refresh_input_digests
),

changed as (
    select coalesce(c.account_id, p.account_id) as account_id, coalesce(c.recent_month, p.recent_month) as recent_month
    from current_digests as c
    full join previous_input_digests as p
        on p.source = c.source
        and p.account_id is not distinct from c.account_id
        and p.recent_month is not distinct from c.recent_month
    where c.n_rows is distinct from p.n_rows or c.row_digest is distinct from p.row_digest
)

select
    account_id,
    case when bool_and(recent_month is not null)
        then cast(min(recent_month) - interval 1 month as date) end as changed_from
from changed
group by account_id
