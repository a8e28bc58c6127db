-- grain: one row per loaded interaction, with its service measures and the moment each became known
-- kind: table
-- engines: duckdb, spark
-- on spark: parquet view
with params as (
    select
        cast($as_of as date) + 1 as as_of_cutoff_date,
        cast($repeat_contact_days as integer) as repeat_contact_days
),

interactions as (
    select * from stg_interactions
),

sla_targets as (
    select * from sla_target_hours
),

-- Each interaction's next contact from the same account: the first contact created strictly after its resolution
-- (timestamps count microseconds), found by a window whose frame starts a row's own distance from its creation to its
-- resolution ahead (DuckDB takes a frame offset per row; the Spark transform gives it as a range join). One sort of
-- the whole rows by account and time, which also leaves the table ordered by account for the panel's window join:
-- an ASOF join sorted both sides and took longer at scale, a join back by row lost that order.
durations as (
    select
        i.*,
        date_diff('second', i.created_at, i.first_response_at) / 3600.0 as first_response_hours,
        date_diff('second', i.created_at, i.resolved_at) / 3600.0 as resolution_hours,
        s.target_hours as sla_target_hours,
        -- an unresolved interaction has none: its offset would be empty, which the frame reads as no offset at all
        case when i.resolved_at is not null then first_value(i.created_at) over (
            partition by i.account_id
            order by i.created_at
            range between (i.resolved_at - i.created_at + interval 1 microsecond) following and unbounded following
        ) end as next_contact_at,
        cast(p.as_of_cutoff_date as timestamp) as as_of_cutoff_at,
        i.resolved_at + p.repeat_contact_days * interval 1 day as repeat_window_end_at
    from interactions as i
    cross join params as p
    left join sla_targets as s on s.severity = i.severity
),

flags as (
    select
        *,
        first_response_hours > sla_target_hours as sla_breached,
        reopens > 0 as reopened,
        handoffs > 0 as handed_off,
        case
            when resolved_at is null then null
            when next_contact_at <= repeat_window_end_at then true
            else false
        end as repeat_contact_outcome
    from durations
),

known_times as (
    select
        *,
        -- a repeat contact is known when it happens; its absence once the window has passed
        case when repeat_contact_outcome then next_contact_at else repeat_window_end_at end as repeat_contact_known_at,
        -- bad: breached the SLA (known at the first response), or reopened, rated 1-2 or handed off
        -- twice or more (known at resolution); the earliest of these is when the account felt it
        least(
            case when first_response_hours > sla_target_hours then first_response_at end,
            case when reopens > 0 or csat <= 2 or handoffs >= 2 then resolved_at end
        ) as bad_known_at
    from flags
)

select
    cast(interaction_id as varchar) as interaction_id,
    cast(account_id as varchar) as account_id,
    cast(created_at as timestamp) as created_at,
    cast(first_response_at as timestamp) as first_response_at,
    cast(resolved_at as timestamp) as resolved_at,
    cast(channel as varchar) as channel,
    cast(severity as varchar) as severity,
    cast(first_response_hours as double) as first_response_hours,
    cast(resolution_hours as double) as resolution_hours,
    cast(sla_target_hours as double) as sla_target_hours,
    cast(sla_breached as boolean) as sla_breached,
    cast(reopened as boolean) as reopened,
    cast(handed_off as boolean) as handed_off,
    cast(handoffs as integer) as handoffs,
    cast(escalated as boolean) as escalated,
    -- unknown until its answer is known by the as-of date
    cast(case when repeat_contact_known_at < as_of_cutoff_at then repeat_contact_outcome end as boolean) as repeat_contact,
    cast(repeat_contact_known_at as timestamp) as repeat_contact_known_at,
    cast(agent_updates as integer) as agent_updates,
    cast(credit_amount as double) as credit_amount,
    cast(csat as double) as csat,
    cast(bad_known_at is not null as boolean) as is_bad_interaction,
    cast(bad_known_at as timestamp) as bad_known_at,
    -- a goodwill credit is known at resolution; it answers a bad interaction once both are known
    cast(case when credit_amount > 0 and bad_known_at is not null and resolved_at is not null
        then greatest(bad_known_at, resolved_at) end as timestamp) as credited_bad_known_at,
    -- the staged columns the measures above do not carry, so stg_interactions can be a view of this table
    cast(reopens as integer) as reopens,
    cast(source_row as bigint) as source_row
from known_times
