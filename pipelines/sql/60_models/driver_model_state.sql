-- grain: one row (or none, when no model could be fitted): the fitted drivers model as JSON, for predictions.
-- kind: table
-- made by: models
create or replace table driver_model_state (
    state_json varchar
)
