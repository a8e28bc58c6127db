-- grain: one row: the build's as-of date, the day predictions start from.
select cast(as_of_date as date) as as_of_date
from build_info
