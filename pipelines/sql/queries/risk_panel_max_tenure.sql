-- grain: one row: the largest tenure (days since signup) the panel observes; the baseline hazard is
-- identified only up to it.
select cast(max(stop_day) as integer) as max_tenure_days
from account_months
