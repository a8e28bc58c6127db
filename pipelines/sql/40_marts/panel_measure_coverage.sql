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

-- one row per account-month per measure, in one pass over the panel (a union of one scan per measure is sixteen
-- scans, and sixteen shuffles on Spark)
measure_values as (
    select
        m.measure,
        p.account_id,
        case m.measure
            when 'tickets_90d' then cast(p.tickets_90d as double)
            when 'high_priority_share_90d' then cast(p.high_priority_share_90d as double)
            when 'live_channel_share_90d' then cast(p.live_channel_share_90d as double)
            when 'first_response_hours_median' then cast(p.first_response_hours_median as double)
            when 'resolution_hours_median' then cast(p.resolution_hours_median as double)
            when 'sla_breach_rate' then cast(p.sla_breach_rate as double)
            when 'csat_mean' then cast(p.csat_mean as double)
            when 'reopen_rate' then cast(p.reopen_rate as double)
            when 'handoff_rate' then cast(p.handoff_rate as double)
            when 'escalation_rate' then cast(p.escalation_rate as double)
            when 'repeat_contact_rate' then cast(p.repeat_contact_rate as double)
            when 'agent_update_rate' then cast(p.agent_update_rate as double)
            when 'credits_90d' then cast(p.credits_90d as double)
            when 'bad_interactions_90d' then cast(p.bad_interactions_90d as double)
            when 'credited_bad_interactions_90d' then cast(p.credited_bad_interactions_90d as double)
            when 'mrr' then cast(p.mrr as double)
        end as value
    from panel as p
    cross join measures as m
),

coverage as (
    select
        measure,
        count(*) as n_rows,
        count(value) as n_rows_with_value,
        count(distinct case when value is not null then account_id end) as n_accounts_with_value,
        min(value) as min_value,
        avg(value) as mean_value,
        max(value) as max_value
    from measure_values
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
