-- grain: one row per risk decile of the holdout, lowest first.
select *
from risk_calibration
order by decile
