-- grain: one row per account-month span with at least one interaction in its trailing window;
-- every measure uses only what was known before the row's start (no look-ahead)
-- kind: temporary
-- engines: duckdb, spark
-- parts: interaction_metrics
-- one part per settings.ROWS_PER_PART interactions
with params as (
    select cast($window_days as integer) as window_days
),

-- The build runs this query once per part of the accounts ($part of $n_parts, by a hash of account_id) and
-- appends the parts: the exact medians below are aggregates DuckDB cannot spill to disk, so at a million
-- accounts one part at a time keeps them within memory (the header's parts line).
spans as (
    select account_id, month_start, row_start_date
    from account_month_spans
    where $n_parts = 1 or hash(account_id) % $n_parts = $part
),

interactions as (
    select * from interaction_metrics
    where $n_parts = 1 or hash(account_id) % $n_parts = $part
),

-- Each interaction can sit in the trailing window of only the next few month starts; expanding it to
-- those months and joining on (account, month) keeps the window join linear in interactions. (Its own
-- month never counts: a row starts at the month start or at signup, and no interaction precedes signup.)
interaction_row_months as (
    select
        i.*,
        cast(date_trunc('month', i.created_at) + later.offset_months * interval 1 month as date) as row_month_start
    from interactions as i
    cross join (
        -- the cast outside the unnest: Spark's explode may not sit inside a cast; floor, since a cast of 3.5 to an
        -- integer gives 4 on DuckDB (it rounds) and 3 on Spark (it truncates)
        select cast(offset_months as integer) as offset_months
        from (select unnest(range(1, cast(floor($window_days / 28) as integer) + 2)) as offset_months)
    ) as later
),

windowed as (
    select
        s.account_id,
        s.month_start,
        cast(s.row_start_date as timestamp) as row_start_at,
        -- the interaction's columns by name: i.* would repeat account_id, which Spark cannot tell apart
        i.severity,
        i.channel,
        i.first_response_at,
        i.first_response_hours,
        i.resolved_at,
        i.resolution_hours,
        i.sla_breached,
        i.csat,
        i.reopened,
        i.handed_off,
        i.escalated,
        i.repeat_contact_known_at,
        i.repeat_contact,
        i.agent_updates,
        i.credit_amount,
        i.bad_known_at,
        i.credited_bad_known_at
    from spans as s
    join interaction_row_months as i
        on i.account_id = s.account_id
        and i.row_month_start = s.month_start
    cross join params as p
    where i.created_at < cast(s.row_start_date as timestamp)
        and i.created_at >= cast(s.row_start_date - p.window_days as timestamp)
)

select
    cast(account_id as varchar) as account_id,
    cast(month_start as date) as month_start,
    cast(count(*) as integer) as tickets_90d,
    -- case mix: known when a ticket is created, so every ticket in the window counts (NULL when none had a value)
    cast(avg(case when severity is not null
        then cast(list_contains($high_priority_severities, severity) as integer) end) as double)
        as high_priority_share_90d,
    cast(avg(case when nullif(trim(channel), '') is not null
        then cast(list_contains($live_channels, lower(trim(channel))) as integer) end) as double)
        as live_channel_share_90d,
    -- median() is exact on DuckDB and on Spark (percentile_cont(0.5) transpiles to Spark's approximate one). The
    -- two engines halve an even count's middle pair in different steps, a unit in the last place apart, which is
    -- enough to round 18.55 h to 18.6 on one and 18.5 on the other in the at-risk list: to 1e-9 h, both agree.
    cast(round(median(case when first_response_at < row_start_at then first_response_hours end), 9) as double)
        as first_response_hours_median,
    cast(round(median(case when resolved_at < row_start_at then resolution_hours end), 9) as double)
        as resolution_hours_median,
    cast(avg(case when first_response_at < row_start_at then cast(sla_breached as integer) end) as double)
        as sla_breach_rate,
    cast(avg(case when resolved_at < row_start_at then csat end) as double) as csat_mean,
    cast(avg(case when resolved_at < row_start_at then cast(reopened as integer) end) as double) as reopen_rate,
    cast(avg(case when resolved_at < row_start_at then cast(handed_off as integer) end) as double) as handoff_rate,
    cast(avg(case when resolved_at < row_start_at then cast(escalated as integer) end) as double) as escalation_rate,
    cast(avg(case when repeat_contact_known_at < row_start_at then cast(repeat_contact as integer) end) as double)
        as repeat_contact_rate,
    cast(avg(case when resolved_at < row_start_at then cast(agent_updates > 0 as integer) end) as double)
        as agent_update_rate,
    cast(sum(case when resolved_at < row_start_at then credit_amount end) as double) as credits_known_90d,
    cast(sum(case when bad_known_at < row_start_at then 1 else 0 end) as integer) as bad_interactions_90d,
    cast(sum(case when credited_bad_known_at < row_start_at then 1 else 0 end) as integer)
        as credited_bad_interactions_90d
from windowed
group by account_id, month_start
