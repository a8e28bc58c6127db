-- grain: one row per service factor term per revenue outcome (expansion, contraction), in the build's order.
select *
from factor_revenue_effects
