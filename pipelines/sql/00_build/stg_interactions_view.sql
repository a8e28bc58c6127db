-- grain: one row per staged interaction (the rows of sql/10_staging/stg_interactions.sql), read from
-- interaction_metrics, which carries every staged column: the interactions are written into the database file
-- once, not twice. Until the metrics are made, stg_interactions is a view of the typed rows and their rejects
-- (sql/10_staging/stg_interactions.sql); this view then takes its place.
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
