-- grain: one row per account active at as-of per churn cause the build modelled: the probability of churning from
-- that cause in the next 90 days, the causes competing (they add up to the chance of churning at all under the
-- models by cause; pipelines/models/cause_risk.py). Empty when the data give no churn reasons.
-- kind: table
-- made by: models
create or replace table account_cause_risk (
    account_id varchar,
    churn_cause varchar,
    churn_probability_90d double
)
