-- grain: one row per horizon and decile of one stored model's holdout check ($model), each horizon's overall
-- row (decile null) first, then its deciles, lowest first.
select *
from model_calibration
where model = $model
order by horizon_days, decile nulls first
