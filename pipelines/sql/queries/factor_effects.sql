-- grain: one row per term of a service factor's own model (the factor's terms only), in the build's order.
select *
from factor_effects
