-- grain: one row per account per calendar month at risk, clipped to [signup, churn or as-of]:
-- the survival panel. Service measures are trailing-window values known before the row's start.
-- kind: table
-- engines: duckdb, spark
-- on spark: parquet view
with spans as (
    select * from account_month_spans
),

service as (
    select * from account_month_service
),

monthly_mrr as (
    select account_id, month_start, mrr from account_month_mrr
),

available as (
    select * from interaction_columns_available
),

panel as (
    select
        s.account_id,
        s.month_start,
        s.start_day,
        s.stop_day,
        s.churned,
        s.churn_cause,
        m.mrr,
        coalesce(v.tickets_90d, 0) as tickets_90d,
        v.high_priority_share_90d,
        v.live_channel_share_90d,
        v.first_response_hours_median,
        v.resolution_hours_median,
        v.sla_breach_rate,
        v.csat_mean,
        v.reopen_rate,
        v.handoff_rate,
        v.escalation_rate,
        v.repeat_contact_rate,
        v.agent_update_rate,
        -- amounts and counts are 0 when nothing happened, NULL only when the input cannot tell
        case when a.has_credit_amount and a.has_resolved_at then coalesce(v.credits_known_90d, 0) end as credits_90d,
        case when a.can_detect_bad then coalesce(v.bad_interactions_90d, 0) end as bad_interactions_90d,
        case when a.can_detect_bad and a.has_credit_amount and a.has_resolved_at
            then coalesce(v.credited_bad_interactions_90d, 0) end as credited_bad_interactions_90d
    from spans as s
    cross join available as a
    left join service as v on v.account_id = s.account_id and v.month_start = s.month_start
    left join monthly_mrr as m on m.account_id = s.account_id and m.month_start = s.month_start
),

typed_panel as (
select
    cast(panel.account_id as varchar) as account_id,
    cast(panel.month_start as date) as month_start,
    cast(panel.start_day as integer) as start_day,
    cast(panel.stop_day as integer) as stop_day,
    cast(panel.churned as integer) as churned,
    cast(panel.churn_cause as varchar) as churn_cause,
    cast(panel.mrr as double) as mrr,
    cast(panel.tickets_90d as integer) as tickets_90d,
    cast(panel.high_priority_share_90d as double) as high_priority_share_90d,
    cast(panel.live_channel_share_90d as double) as live_channel_share_90d,
    cast(panel.first_response_hours_median as double) as first_response_hours_median,
    cast(panel.resolution_hours_median as double) as resolution_hours_median,
    cast(panel.sla_breach_rate as double) as sla_breach_rate,
    cast(panel.csat_mean as double) as csat_mean,
    cast(panel.reopen_rate as double) as reopen_rate,
    cast(panel.handoff_rate as double) as handoff_rate,
    cast(panel.escalation_rate as double) as escalation_rate,
    cast(panel.repeat_contact_rate as double) as repeat_contact_rate,
    cast(panel.agent_update_rate as double) as agent_update_rate,
    cast(panel.credits_90d as double) as credits_90d,
    cast(panel.bad_interactions_90d as integer) as bad_interactions_90d,
    cast(panel.credited_bad_interactions_90d as integer) as credited_bad_interactions_90d
from panel
)

-- USING keeps one account_id; the segment columns (any names the user's file had) follow
-- (no ORDER BY: every reader orders what it needs, and sorting every row with every column is the
-- panel's largest single cost at a million accounts)
select *
from typed_panel
join stg_account_segments using (account_id)
