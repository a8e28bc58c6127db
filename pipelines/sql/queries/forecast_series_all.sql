-- grain: one row per month ahead per measure of the build's stored forecast of every account, in month order.
select *
from forecast_series
order by month_number, measure
