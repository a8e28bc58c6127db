-- grain: one row per account_months row of a demo build (every month, or with $latest_only the as-of month's),
-- ordered by account and start day: the measures the planted hazard reads. The account's array index is in its
-- id (A + zero-padded row number), as the demo writes it.
select
    cast(substr(account_id, 2) as integer) - 1 as account,
    cast(start_day as integer) as start_day,
    cast(stop_day as integer) as stop_day,
    cast(date_diff('month', $history_start, month_start) as integer) as month,
    plan = 'Starter' as is_starter,
    first_response_hours_median,
    reopen_rate,
    agent_update_rate,
    high_priority_share_90d,
    bad_interactions_90d,
    credited_bad_interactions_90d,
    tickets_90d
from account_months
where not $latest_only or month_start = date_trunc('month', $as_of)
order by account, start_day
