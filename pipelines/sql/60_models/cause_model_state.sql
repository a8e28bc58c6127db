-- grain: one row per churn cause per stored model of churn from it: its drivers model (model 'drivers', for the
-- at-risk list's probability of each cause) and each service factor's what-if outcome model (model = the factor),
-- as JSON.
-- kind: table
-- made by: models
create or replace table cause_model_state (
    churn_cause varchar,
    model varchar,
    state_json varchar
)
