-- grain: one row per ticket in the trailing window of an active account's latest panel row, answered before that
-- row started, whose severity has an SLA target: what a what-if of first response rechecks ticket by ticket.
-- Stored so that a what-if reads these few rows per account instead of joining every interaction to the panel.
-- The window and "answered before the row started" are the panel's own (account_month_service.sql); the latest
-- active row is current_panel_rows's (built before this mart).
-- kind: table
-- engines: duckdb
with latest_active_rows as (
    select account_id, month_start from current_panel_rows
)

select
    cast(i.account_id as varchar) as account_id,
    cast(i.first_response_hours as double) as first_response_hours,
    cast(i.sla_target_hours as double) as sla_target_hours,
    -- bad whatever the first response: reopened, rated 1-2 or handed off twice or more
    cast(coalesce(i.reopened, false) or coalesce(i.csat <= 2, false) or coalesce(i.handoffs >= 2, false) as boolean)
        as bad_for_other_reasons
from interaction_metrics as i
inner join latest_active_rows as r on r.account_id = i.account_id
where i.created_at >= cast(r.month_start - cast($window_days as integer) as timestamp)
    and i.created_at < cast(r.month_start as timestamp)
    and i.first_response_at < cast(r.month_start as timestamp)
    and i.sla_target_hours is not null
