-- grain: one row: the stored model of the factor $factor as JSON.
select state_json
from factor_model_state
where factor = $factor
