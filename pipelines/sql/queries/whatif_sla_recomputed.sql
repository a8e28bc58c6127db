-- grain: one row: over the tickets in the latest windows of the active accounts ($account_ids, the what-if's
-- selection, or every one when NULL), the SLA breaches and bad interactions as they were and with every first
-- response scaled by $first_response_scale, each ticket checked again against its own severity's target.
with window_tickets as (
    select
        t.first_response_hours > t.sla_target_hours as breached_today,
        t.first_response_hours * $first_response_scale > t.sla_target_hours as breached_with_change,
        t.bad_for_other_reasons
    from sla_window_tickets as t
    where cast($account_ids as varchar[]) is null
        or t.account_id in (select unnest(cast($account_ids as varchar[])))
)

select
    cast(count(*) as bigint) as n_tickets,
    cast(avg(cast(breached_today as integer)) as double) as sla_breach_rate_today,
    cast(avg(cast(breached_with_change as integer)) as double) as sla_breach_rate_with_change,
    cast(sum(cast(breached_today or bad_for_other_reasons as integer)) as bigint) as bad_interactions_today,
    cast(sum(cast(breached_with_change or bad_for_other_reasons as integer)) as bigint) as bad_interactions_with_change
from window_tickets
