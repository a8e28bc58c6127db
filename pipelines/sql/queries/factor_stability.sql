-- grain: one row per service factor term per step of its adjustment set (unadjusted, + plan and segments,
-- + case mix and volume, + upstream service factors), in the build's order.
select *
from factor_stability
