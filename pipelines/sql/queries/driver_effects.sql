-- grain: one row per term of the build's mutually adjusted drivers model.
select *
from driver_effects
