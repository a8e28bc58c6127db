-- grain: one row: which optional columns the interactions file has (has_<contract column>), and whether a bad
-- interaction can be seen at all (a timed, graded first response, or a resolution with its grades).
-- kind: table
-- made by: settings
create table interaction_columns_available (
    has_interaction_id boolean,
    has_account_id boolean,
    has_created_at boolean,
    has_first_response_at boolean,
    has_resolved_at boolean,
    has_channel boolean,
    has_severity boolean,
    has_csat boolean,
    has_reopens boolean,
    has_handoffs boolean,
    has_escalated boolean,
    has_agent_updates boolean,
    has_credit_amount boolean,
    can_detect_bad boolean
)
