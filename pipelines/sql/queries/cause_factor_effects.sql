-- grain: one row per churn cause per term of a service factor's own model of churn from it, in the build's order.
select *
from cause_factor_effects
