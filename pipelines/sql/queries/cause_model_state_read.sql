-- grain: one row: the stored model $model of churn from the cause $cause, as JSON.
select state_json
from cause_model_state
where churn_cause = $cause and model = $model
