-- grain: one row per service factor whose own model was fitted: the model as JSON, for the what-if.
-- kind: table
-- made by: models
create or replace table factor_model_state (
    factor varchar,
    state_json varchar
)
