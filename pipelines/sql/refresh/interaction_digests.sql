-- The interactions' digests by account and month (sql/00_build/input_digests.sql), of the rows up to
-- $interaction_rows: a row created on or after $settled_before counts under its month, every other row (and one
-- whose created_at does not read as a time) under none. The month is read from the raw value, so a time with an
-- offset may count under the month beside its own: a refresh recomputes from the month before a changed one.
select
    cast(account_id as varchar) as account_id,
    case when try_cast(created_at as timestamp) >= cast($settled_before as date)
        then cast(date_trunc('month', try_cast(created_at as timestamp)) as date) end as recent_month,
    count(*) as n_rows,
    sum(hash(s)) as row_digest
from src_interactions as s
where _row <= $interaction_rows
group by all
