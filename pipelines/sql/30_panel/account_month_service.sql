-- grain: one row per account and month start up to the as-of date with at least one interaction in the trailing
-- window before it; every measure uses only what was known before the month's start (no look-ahead)
-- kind: temporary
-- engines: duckdb, spark
-- parts: interaction_metrics
-- one part per settings.ROWS_PER_PART interactions
with params as (
    select cast($window_days as integer) as window_days, cast($as_of as date) as as_of_date
),

-- The build runs this query once per part of the accounts ($part of $n_parts, by a hash of account_id) and
-- appends the parts: the exact medians below are aggregates DuckDB cannot spill to disk, so at a million
-- accounts one part at a time keeps them within memory (the header's parts line). The count cast to UBIGINT, the
-- type of hash(): a modulo by a signed number is computed in 128 bits, many times slower.
interactions as (
    select * from interaction_metrics
    where $n_parts = 1 or hash(account_id) % cast($n_parts as ubigint) = $part
),

-- Each interaction can sit in the trailing window of only the next few month starts; expanding it to those
-- months and grouping by (account, month) keeps the window linear in interactions. A panel row starts at its
-- month's start but in the signup month, whose window (before the signup) holds no interaction: no interaction
-- precedes its account's signup. So the windows need no join to the panel's rows; a month past the account's
-- churn finds no panel row to join in account_months.
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
        i.account_id,
        i.row_month_start as month_start,
        cast(i.row_month_start as timestamp) as row_start_at,
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
    from interaction_row_months as i
    cross join params as p
    where i.created_at >= cast(i.row_month_start - p.window_days as timestamp)
        and i.row_month_start <= p.as_of_date
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
