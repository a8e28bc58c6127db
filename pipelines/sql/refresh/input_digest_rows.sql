-- The rows of input_digests (sql/00_build/input_digests.sql) for the inputs as read now: every accounts and MRR row
-- (unless $interactions_only), and the interactions after row $after_row up to row $interaction_rows. The digests
-- are sums, so those of consecutive row ranges add up to the digests of the whole. An interaction created on or
-- after $settled_before counts under its month, every other one (and one whose created_at does not read as a time)
-- under none. The month is read from the raw value, so a time with an offset may count under the month beside its
-- own: a refresh recomputes from the month before a changed one.
select 'accounts' as source, cast(account_id as varchar) as account_id, cast(null as date) as recent_month,
    count(*) as n_rows, sum(hash(s)) as row_digest
from src_accounts as s
where not $interactions_only
group by all
union all
select
    'interactions',
    cast(account_id as varchar),
    case when try_cast(created_at as timestamp) >= cast($settled_before as date)
        then cast(date_trunc('month', try_cast(created_at as timestamp)) as date) end,
    count(*),
    sum(hash(s))
from src_interactions as s
where _row > $after_row and _row <= $interaction_rows
group by all
union all
select 'mrr_history', cast(account_id as varchar), null, count(*), sum(hash(s))
from src_mrr_history as s
where not $interactions_only
group by all
