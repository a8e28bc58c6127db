-- grain: one row per interaction (unique interaction_id) of a loaded account, created before the as-of cutoff;
-- values listed as value_nulled in interaction_rejects are NULL here
-- kind: view
-- engines: duckdb, spark
-- the staged rows until interaction_metrics carries them; then sql/00_build/stg_interactions_view.sql
-- replaces this view with a view of interaction_metrics, so the database holds the interactions once. A view, not a
-- working table: interaction_metrics reads the rows once, as it computes, instead of from a copy written first
create or replace view stg_interactions as
with interactions as (
    select * from typed_interactions
),

rejects as (
    select * from interaction_rejects
),

dropped_rows as (
    select distinct row_number from rejects where action = 'row_dropped'
),

nulled as (
    select
        row_number,
        max(case when column_name = 'first_response_at' then 1 else 0 end) as null_first_response_at,
        max(case when column_name = 'resolved_at' then 1 else 0 end) as null_resolved_at,
        max(case when column_name = 'csat' then 1 else 0 end) as null_csat,
        max(case when column_name = 'reopens' then 1 else 0 end) as null_reopens,
        max(case when column_name = 'handoffs' then 1 else 0 end) as null_handoffs,
        max(case when column_name = 'agent_updates' then 1 else 0 end) as null_agent_updates,
        max(case when column_name = 'credit_amount' then 1 else 0 end) as null_credit_amount
    from rejects
    where action = 'value_nulled'
    group by row_number
)

select
    cast(i._row as bigint) as source_row,
    cast(i.interaction_id as varchar) as interaction_id,
    cast(i.account_id as varchar) as account_id,
    cast(i.created_at as timestamp) as created_at,
    cast(case when coalesce(n.null_first_response_at, 0) = 0 then i.first_response_at end as timestamp) as first_response_at,
    cast(case when coalesce(n.null_resolved_at, 0) = 0 then i.resolved_at end as timestamp) as resolved_at,
    cast(i.channel as varchar) as channel,
    cast(i.severity as varchar) as severity,
    cast(case when coalesce(n.null_csat, 0) = 0 then i.csat end as double) as csat,
    cast(case when coalesce(n.null_reopens, 0) = 0 then i.reopens end as integer) as reopens,
    cast(case when coalesce(n.null_handoffs, 0) = 0 then i.handoffs end as integer) as handoffs,
    cast(i.escalated as boolean) as escalated,
    cast(case when coalesce(n.null_agent_updates, 0) = 0 then i.agent_updates end as integer) as agent_updates,
    cast(case when coalesce(n.null_credit_amount, 0) = 0 then i.credit_amount end as double) as credit_amount
from interactions as i
left join dropped_rows as d on d.row_number = i._row
left join nulled as n on n.row_number = i._row
where d.row_number is null
