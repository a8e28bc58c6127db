-- grain: one row per panel measure: how many account-months have it, and its range.
-- A coverage check catches silent emptiness (a measure that is NULL everywhere because an input was missing).
with panel as (
    select * from account_months
),

coverage as (
    select 'tickets_90d' as measure, count(*) as n_rows, count(tickets_90d) as n_rows_with_value,
        count(distinct case when tickets_90d is not null then account_id end) as n_accounts_with_value,
        min(tickets_90d) as min_value, avg(tickets_90d) as mean_value, max(tickets_90d) as max_value
    from panel
    union all
    select 'high_priority_share_90d' as measure, count(*) as n_rows, count(high_priority_share_90d) as n_rows_with_value,
        count(distinct case when high_priority_share_90d is not null then account_id end) as n_accounts_with_value,
        min(high_priority_share_90d) as min_value, avg(high_priority_share_90d) as mean_value, max(high_priority_share_90d) as max_value
    from panel
    union all
    select 'live_channel_share_90d' as measure, count(*) as n_rows, count(live_channel_share_90d) as n_rows_with_value,
        count(distinct case when live_channel_share_90d is not null then account_id end) as n_accounts_with_value,
        min(live_channel_share_90d) as min_value, avg(live_channel_share_90d) as mean_value, max(live_channel_share_90d) as max_value
    from panel
    union all
    select 'first_response_hours_median' as measure, count(*) as n_rows, count(first_response_hours_median) as n_rows_with_value,
        count(distinct case when first_response_hours_median is not null then account_id end) as n_accounts_with_value,
        min(first_response_hours_median) as min_value, avg(first_response_hours_median) as mean_value, max(first_response_hours_median) as max_value
    from panel
    union all
    select 'resolution_hours_median' as measure, count(*) as n_rows, count(resolution_hours_median) as n_rows_with_value,
        count(distinct case when resolution_hours_median is not null then account_id end) as n_accounts_with_value,
        min(resolution_hours_median) as min_value, avg(resolution_hours_median) as mean_value, max(resolution_hours_median) as max_value
    from panel
    union all
    select 'sla_breach_rate' as measure, count(*) as n_rows, count(sla_breach_rate) as n_rows_with_value,
        count(distinct case when sla_breach_rate is not null then account_id end) as n_accounts_with_value,
        min(sla_breach_rate) as min_value, avg(sla_breach_rate) as mean_value, max(sla_breach_rate) as max_value
    from panel
    union all
    select 'csat_mean' as measure, count(*) as n_rows, count(csat_mean) as n_rows_with_value,
        count(distinct case when csat_mean is not null then account_id end) as n_accounts_with_value,
        min(csat_mean) as min_value, avg(csat_mean) as mean_value, max(csat_mean) as max_value
    from panel
    union all
    select 'reopen_rate' as measure, count(*) as n_rows, count(reopen_rate) as n_rows_with_value,
        count(distinct case when reopen_rate is not null then account_id end) as n_accounts_with_value,
        min(reopen_rate) as min_value, avg(reopen_rate) as mean_value, max(reopen_rate) as max_value
    from panel
    union all
    select 'handoff_rate' as measure, count(*) as n_rows, count(handoff_rate) as n_rows_with_value,
        count(distinct case when handoff_rate is not null then account_id end) as n_accounts_with_value,
        min(handoff_rate) as min_value, avg(handoff_rate) as mean_value, max(handoff_rate) as max_value
    from panel
    union all
    select 'escalation_rate' as measure, count(*) as n_rows, count(escalation_rate) as n_rows_with_value,
        count(distinct case when escalation_rate is not null then account_id end) as n_accounts_with_value,
        min(escalation_rate) as min_value, avg(escalation_rate) as mean_value, max(escalation_rate) as max_value
    from panel
    union all
    select 'repeat_contact_rate' as measure, count(*) as n_rows, count(repeat_contact_rate) as n_rows_with_value,
        count(distinct case when repeat_contact_rate is not null then account_id end) as n_accounts_with_value,
        min(repeat_contact_rate) as min_value, avg(repeat_contact_rate) as mean_value, max(repeat_contact_rate) as max_value
    from panel
    union all
    select 'agent_update_rate' as measure, count(*) as n_rows, count(agent_update_rate) as n_rows_with_value,
        count(distinct case when agent_update_rate is not null then account_id end) as n_accounts_with_value,
        min(agent_update_rate) as min_value, avg(agent_update_rate) as mean_value, max(agent_update_rate) as max_value
    from panel
    union all
    select 'credits_90d' as measure, count(*) as n_rows, count(credits_90d) as n_rows_with_value,
        count(distinct case when credits_90d is not null then account_id end) as n_accounts_with_value,
        min(credits_90d) as min_value, avg(credits_90d) as mean_value, max(credits_90d) as max_value
    from panel
    union all
    select 'bad_interactions_90d' as measure, count(*) as n_rows, count(bad_interactions_90d) as n_rows_with_value,
        count(distinct case when bad_interactions_90d is not null then account_id end) as n_accounts_with_value,
        min(bad_interactions_90d) as min_value, avg(bad_interactions_90d) as mean_value, max(bad_interactions_90d) as max_value
    from panel
    union all
    select 'credited_bad_interactions_90d' as measure, count(*) as n_rows, count(credited_bad_interactions_90d) as n_rows_with_value,
        count(distinct case when credited_bad_interactions_90d is not null then account_id end) as n_accounts_with_value,
        min(credited_bad_interactions_90d) as min_value, avg(credited_bad_interactions_90d) as mean_value, max(credited_bad_interactions_90d) as max_value
    from panel
    union all
    select 'mrr' as measure, count(*) as n_rows, count(mrr) as n_rows_with_value,
        count(distinct case when mrr is not null then account_id end) as n_accounts_with_value,
        min(mrr) as min_value, avg(mrr) as mean_value, max(mrr) as max_value
    from panel
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
from coverage
