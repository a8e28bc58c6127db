-- grain: one row per service factor's lever, most ARR kept first.
select *
from whatif_levers
order by arr_kept desc
