-- grain: one row: the build's as-of date, where every still-active account is censored.
select as_of_date
from build_info
