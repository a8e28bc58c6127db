-- grain: one row: over the active accounts' latest panel windows, the tickets' SLA breaches and bad
-- interactions as they were and with every first response scaled by $first_response_scale, each ticket
-- checked again against its own severity's target. Only tickets answered before the row started count,
-- as in the panel's own breach rate.
with latest_rows as (
    select account_id, month_start
    from account_months
    qualify row_number() over (partition by account_id order by month_start desc) = 1 and churned = 0
),

window_tickets as (
    select
        i.account_id,
        i.first_response_hours > i.sla_target_hours as breached_today,
        i.first_response_hours * $first_response_scale > i.sla_target_hours as breached_with_change,
        coalesce(i.reopened, false) or coalesce(i.csat <= 2, false) or coalesce(i.handoffs >= 2, false)
            as bad_for_other_reasons
    from interaction_metrics as i
    inner join latest_rows as r on r.account_id = i.account_id
    where i.created_at >= cast(r.month_start - cast($window_days as integer) as timestamp)
        and i.created_at < cast(r.month_start as timestamp)
        and i.first_response_at < cast(r.month_start as timestamp)
        and i.sla_target_hours is not null
)

select
    cast(count(*) as bigint) as n_tickets,
    cast(avg(cast(breached_today as integer)) as double) as sla_breach_rate_today,
    cast(avg(cast(breached_with_change as integer)) as double) as sla_breach_rate_with_change,
    cast(sum(cast(breached_today or bad_for_other_reasons as integer)) as bigint) as bad_interactions_today,
    cast(sum(cast(breached_with_change or bad_for_other_reasons as integer)) as bigint) as bad_interactions_with_change
from window_tickets
