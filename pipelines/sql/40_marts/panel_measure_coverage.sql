-- grain: one row per panel measure: how many account-months have it, and its range.
-- A coverage check catches silent emptiness (a measure that is NULL everywhere because an input was missing).
-- kind: table
-- engines: duckdb, spark
with panel as (
    select * from account_months
),

measures as (
    select * from (values
        ('tickets_90d'),
        ('high_priority_share_90d'),
        ('live_channel_share_90d'),
        ('first_response_hours_median'),
        ('resolution_hours_median'),
        ('sla_breach_rate'),
        ('csat_mean'),
        ('reopen_rate'),
        ('handoff_rate'),
        ('escalation_rate'),
        ('repeat_contact_rate'),
        ('agent_update_rate'),
        ('credits_90d'),
        ('bad_interactions_90d'),
        ('credited_bad_interactions_90d'),
        ('mrr')
    ) as m(measure)
),

-- Each account's counts, extremes and sums of every measure in one pass over the panel, then one row per account
-- per measure: the panel is read once and only the accounts are multiplied by the measures (sixteen scans would be
-- sixteen shuffles on Spark; multiplying every account-month by sixteen cost more than the rest of the marts).
per_account as (
    select
        p.account_id,
        count(*) as n_rows,
        count(p.tickets_90d) as tickets_90d_n,
        min(cast(p.tickets_90d as double)) as tickets_90d_min,
        max(cast(p.tickets_90d as double)) as tickets_90d_max,
        sum(cast(p.tickets_90d as double)) as tickets_90d_sum,
        count(p.high_priority_share_90d) as high_priority_share_90d_n,
        min(cast(p.high_priority_share_90d as double)) as high_priority_share_90d_min,
        max(cast(p.high_priority_share_90d as double)) as high_priority_share_90d_max,
        sum(cast(p.high_priority_share_90d as double)) as high_priority_share_90d_sum,
        count(p.live_channel_share_90d) as live_channel_share_90d_n,
        min(cast(p.live_channel_share_90d as double)) as live_channel_share_90d_min,
        max(cast(p.live_channel_share_90d as double)) as live_channel_share_90d_max,
        sum(cast(p.live_channel_share_90d as double)) as live_channel_share_90d_sum,
        count(p.first_response_hours_median) as first_response_hours_median_n,
        min(cast(p.first_response_hours_median as double)) as first_response_hours_median_min,
        max(cast(p.first_response_hours_median as double)) as first_response_hours_median_max,
        sum(cast(p.first_response_hours_median as double)) as first_response_hours_median_sum,
        count(p.resolution_hours_median) as resolution_hours_median_n,
        min(cast(p.resolution_hours_median as double)) as resolution_hours_median_min,
        max(cast(p.resolution_hours_median as double)) as resolution_hours_median_max,
        sum(cast(p.resolution_hours_median as double)) as resolution_hours_median_sum,
        count(p.sla_breach_rate) as sla_breach_rate_n,
        min(cast(p.sla_breach_rate as double)) as sla_breach_rate_min,
        max(cast(p.sla_breach_rate as double)) as sla_breach_rate_max,
        sum(cast(p.sla_breach_rate as double)) as sla_breach_rate_sum,
        count(p.csat_mean) as csat_mean_n,
        min(cast(p.csat_mean as double)) as csat_mean_min,
        max(cast(p.csat_mean as double)) as csat_mean_max,
        sum(cast(p.csat_mean as double)) as csat_mean_sum,
        count(p.reopen_rate) as reopen_rate_n,
        min(cast(p.reopen_rate as double)) as reopen_rate_min,
        max(cast(p.reopen_rate as double)) as reopen_rate_max,
        sum(cast(p.reopen_rate as double)) as reopen_rate_sum,
        count(p.handoff_rate) as handoff_rate_n,
        min(cast(p.handoff_rate as double)) as handoff_rate_min,
        max(cast(p.handoff_rate as double)) as handoff_rate_max,
        sum(cast(p.handoff_rate as double)) as handoff_rate_sum,
        count(p.escalation_rate) as escalation_rate_n,
        min(cast(p.escalation_rate as double)) as escalation_rate_min,
        max(cast(p.escalation_rate as double)) as escalation_rate_max,
        sum(cast(p.escalation_rate as double)) as escalation_rate_sum,
        count(p.repeat_contact_rate) as repeat_contact_rate_n,
        min(cast(p.repeat_contact_rate as double)) as repeat_contact_rate_min,
        max(cast(p.repeat_contact_rate as double)) as repeat_contact_rate_max,
        sum(cast(p.repeat_contact_rate as double)) as repeat_contact_rate_sum,
        count(p.agent_update_rate) as agent_update_rate_n,
        min(cast(p.agent_update_rate as double)) as agent_update_rate_min,
        max(cast(p.agent_update_rate as double)) as agent_update_rate_max,
        sum(cast(p.agent_update_rate as double)) as agent_update_rate_sum,
        count(p.credits_90d) as credits_90d_n,
        min(cast(p.credits_90d as double)) as credits_90d_min,
        max(cast(p.credits_90d as double)) as credits_90d_max,
        sum(cast(p.credits_90d as double)) as credits_90d_sum,
        count(p.bad_interactions_90d) as bad_interactions_90d_n,
        min(cast(p.bad_interactions_90d as double)) as bad_interactions_90d_min,
        max(cast(p.bad_interactions_90d as double)) as bad_interactions_90d_max,
        sum(cast(p.bad_interactions_90d as double)) as bad_interactions_90d_sum,
        count(p.credited_bad_interactions_90d) as credited_bad_interactions_90d_n,
        min(cast(p.credited_bad_interactions_90d as double)) as credited_bad_interactions_90d_min,
        max(cast(p.credited_bad_interactions_90d as double)) as credited_bad_interactions_90d_max,
        sum(cast(p.credited_bad_interactions_90d as double)) as credited_bad_interactions_90d_sum,
        count(p.mrr) as mrr_n,
        min(cast(p.mrr as double)) as mrr_min,
        max(cast(p.mrr as double)) as mrr_max,
        sum(cast(p.mrr as double)) as mrr_sum
    from panel as p
    group by p.account_id
),

account_measures as (
    select
        m.measure,
        a.n_rows,
        case m.measure
            when 'tickets_90d' then a.tickets_90d_n
            when 'high_priority_share_90d' then a.high_priority_share_90d_n
            when 'live_channel_share_90d' then a.live_channel_share_90d_n
            when 'first_response_hours_median' then a.first_response_hours_median_n
            when 'resolution_hours_median' then a.resolution_hours_median_n
            when 'sla_breach_rate' then a.sla_breach_rate_n
            when 'csat_mean' then a.csat_mean_n
            when 'reopen_rate' then a.reopen_rate_n
            when 'handoff_rate' then a.handoff_rate_n
            when 'escalation_rate' then a.escalation_rate_n
            when 'repeat_contact_rate' then a.repeat_contact_rate_n
            when 'agent_update_rate' then a.agent_update_rate_n
            when 'credits_90d' then a.credits_90d_n
            when 'bad_interactions_90d' then a.bad_interactions_90d_n
            when 'credited_bad_interactions_90d' then a.credited_bad_interactions_90d_n
            when 'mrr' then a.mrr_n
        end as n_with_value,
        case m.measure
            when 'tickets_90d' then a.tickets_90d_min
            when 'high_priority_share_90d' then a.high_priority_share_90d_min
            when 'live_channel_share_90d' then a.live_channel_share_90d_min
            when 'first_response_hours_median' then a.first_response_hours_median_min
            when 'resolution_hours_median' then a.resolution_hours_median_min
            when 'sla_breach_rate' then a.sla_breach_rate_min
            when 'csat_mean' then a.csat_mean_min
            when 'reopen_rate' then a.reopen_rate_min
            when 'handoff_rate' then a.handoff_rate_min
            when 'escalation_rate' then a.escalation_rate_min
            when 'repeat_contact_rate' then a.repeat_contact_rate_min
            when 'agent_update_rate' then a.agent_update_rate_min
            when 'credits_90d' then a.credits_90d_min
            when 'bad_interactions_90d' then a.bad_interactions_90d_min
            when 'credited_bad_interactions_90d' then a.credited_bad_interactions_90d_min
            when 'mrr' then a.mrr_min
        end as min_value,
        case m.measure
            when 'tickets_90d' then a.tickets_90d_max
            when 'high_priority_share_90d' then a.high_priority_share_90d_max
            when 'live_channel_share_90d' then a.live_channel_share_90d_max
            when 'first_response_hours_median' then a.first_response_hours_median_max
            when 'resolution_hours_median' then a.resolution_hours_median_max
            when 'sla_breach_rate' then a.sla_breach_rate_max
            when 'csat_mean' then a.csat_mean_max
            when 'reopen_rate' then a.reopen_rate_max
            when 'handoff_rate' then a.handoff_rate_max
            when 'escalation_rate' then a.escalation_rate_max
            when 'repeat_contact_rate' then a.repeat_contact_rate_max
            when 'agent_update_rate' then a.agent_update_rate_max
            when 'credits_90d' then a.credits_90d_max
            when 'bad_interactions_90d' then a.bad_interactions_90d_max
            when 'credited_bad_interactions_90d' then a.credited_bad_interactions_90d_max
            when 'mrr' then a.mrr_max
        end as max_value,
        case m.measure
            when 'tickets_90d' then a.tickets_90d_sum
            when 'high_priority_share_90d' then a.high_priority_share_90d_sum
            when 'live_channel_share_90d' then a.live_channel_share_90d_sum
            when 'first_response_hours_median' then a.first_response_hours_median_sum
            when 'resolution_hours_median' then a.resolution_hours_median_sum
            when 'sla_breach_rate' then a.sla_breach_rate_sum
            when 'csat_mean' then a.csat_mean_sum
            when 'reopen_rate' then a.reopen_rate_sum
            when 'handoff_rate' then a.handoff_rate_sum
            when 'escalation_rate' then a.escalation_rate_sum
            when 'repeat_contact_rate' then a.repeat_contact_rate_sum
            when 'agent_update_rate' then a.agent_update_rate_sum
            when 'credits_90d' then a.credits_90d_sum
            when 'bad_interactions_90d' then a.bad_interactions_90d_sum
            when 'credited_bad_interactions_90d' then a.credited_bad_interactions_90d_sum
            when 'mrr' then a.mrr_sum
        end as sum_value
    from per_account as a
    cross join measures as m
),

coverage as (
    select
        measure,
        sum(n_rows) as n_rows,
        sum(n_with_value) as n_rows_with_value,
        count(case when n_with_value > 0 then 1 end) as n_accounts_with_value,
        min(min_value) as min_value,
        sum(sum_value) / nullif(sum(n_with_value), 0) as mean_value,
        max(max_value) as max_value
    from account_measures
    group by measure
),

-- a panel with no rows still lists every measure, as the per-measure scans did
every_measure as (
    select
        m.measure,
        coalesce(c.n_rows, 0) as n_rows,
        coalesce(c.n_rows_with_value, 0) as n_rows_with_value,
        coalesce(c.n_accounts_with_value, 0) as n_accounts_with_value,
        c.min_value,
        c.mean_value,
        c.max_value
    from measures as m
    left join coverage as c on c.measure = m.measure
)

select
    cast(measure as varchar) as measure,
    cast(n_rows as bigint) as n_rows,
    cast(n_rows_with_value as bigint) as n_rows_with_value,
    cast(n_rows_with_value * 1.0 / nullif(n_rows, 0) as double) as share_with_value,
    cast(n_accounts_with_value as bigint) as n_accounts_with_value,
    cast(min_value as double) as min_value,
    cast(mean_value as double) as mean_value,
    cast(max_value as double) as max_value
from every_measure
