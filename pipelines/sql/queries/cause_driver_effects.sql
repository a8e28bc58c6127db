-- grain: one row per churn cause per term of its drivers model, in the build's order.
select *
from cause_driver_effects
