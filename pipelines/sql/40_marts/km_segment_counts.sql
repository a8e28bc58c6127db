-- grain: one row per categorical segment column per level (NULL for accounts without one), plus one row for every
-- account (segment_column NULL, group_value 'all'): km_event_counts.sql's per-day counts of that group as lists
-- in day order (the days on which at least one account left the risk set), its accounts without an MRR, and the
-- as-of date they are censored at.
-- Stored so that the survival of every account, or of one categorical segment, is a lookup of a few rows rather
-- than a pass over the accounts. A filtered or scoped view never reads this table: it counts its own accounts.
-- kind: table
-- engines: duckdb
with params as (
    select cast($as_of as date) as as_of_date
),

accounts as (
    select account_id, duration_days, churned, mrr from account_survival
),

segments as (
    select * from stg_account_segments
),

categorical_columns as (
    select column_name from segment_columns where kind = 'categorical'
),

-- each segment as text; churn_date is a contract column, so no segment has its name: it keeps the column
-- list non-empty for an accounts file without segments, and the join to categorical_columns drops it
segment_text as (
    select account_id, columns(* exclude (account_id))::varchar, cast(null as varchar) as churn_date
    from segments
),

-- one row per account per segment column, NULLs kept (they are the "(missing)" group)
segment_values as (
    select account_id, segment_column, group_value
    from segment_text
    unpivot include nulls (group_value for segment_column in (columns(* exclude (account_id))))
),

accounts_by_level as (
    select v.segment_column, v.group_value, a.duration_days, a.churned, a.mrr
    from segment_values as v
    join categorical_columns as c on c.column_name = v.segment_column
    join accounts as a on a.account_id = v.account_id
    union all
    select cast(null as varchar), 'all', duration_days, churned, mrr
    from accounts
),

removals_per_day as (
    select
        segment_column,
        group_value,
        cast(duration_days as bigint) as time_days,
        count(*) as n_removed,
        cast(sum(churned) as bigint) as n_events,
        cast(coalesce(sum(mrr), 0) as double) as mrr_removed,
        cast(coalesce(sum(mrr) filter (where churned = 1), 0) as double) as mrr_events,
        count(*) - count(mrr) as n_mrr_missing
    from accounts_by_level
    group by segment_column, group_value, duration_days
)

select
    cast(segment_column as varchar) as segment_column,
    cast(group_value as varchar) as group_value,
    cast(list(time_days order by time_days) as bigint[]) as time_days,
    cast(list(n_removed order by time_days) as bigint[]) as n_removed,
    cast(list(n_events order by time_days) as bigint[]) as n_events,
    cast(list(mrr_removed order by time_days) as double[]) as mrr_removed,
    cast(list(mrr_events order by time_days) as double[]) as mrr_events,
    cast(sum(n_mrr_missing) as bigint) as n_mrr_missing,
    cast(any_value(p.as_of_date) as date) as as_of_date
from removals_per_day
cross join params as p
group by segment_column, group_value
order by segment_column nulls first, group_value
