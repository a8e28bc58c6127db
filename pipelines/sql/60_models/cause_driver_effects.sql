-- grain: one row per churn cause per term of that cause's mutually adjusted drivers model (churn from the cause
-- alone, the other causes censored); empty when the data give no churn reasons. The columns are driver_effects',
-- after the cause.
-- kind: table
-- made by: models
create or replace table cause_driver_effects as
select cast(null as varchar) as churn_cause, *
from driver_effects
where false
