-- grain: one row per model the build stored information for; filtered to $model.
select info_json
from model_info
where model = $model
