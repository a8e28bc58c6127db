-- grain: one row per staged interaction (the rows of sql/10_staging/stg_interactions.sql), read from
-- interaction_metrics, which carries every staged column: the interactions are written into the database file
-- once, not twice. The build makes the staged rows a temporary table, computes the metrics from it, then drops it.
-- kind: view
-- engines: duckdb
-- replaces: stg_interactions
create or replace view stg_interactions as
select
    source_row,
    interaction_id,
    account_id,
    created_at,
    first_response_at,
    resolved_at,
    channel,
    severity,
    csat,
    reopens,
    handoffs,
    escalated,
    agent_updates,
    credit_amount
from interaction_metrics
