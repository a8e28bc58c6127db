-- grain: one row: one churn cause's stored model as JSON.
insert into cause_model_state
values ($cause, $model, $state_json)
