-- grain: one row per churn cause per term of each service factor's own model of churn from that cause (the other
-- causes censored); empty when the data give no churn reasons. The columns are factor_effects' (adjustment set,
-- cluster-robust 95% interval, E-values), after the cause.
-- kind: table
-- made by: models
create or replace table cause_factor_effects as
select cast(null as varchar) as churn_cause, *
from factor_effects
where false
