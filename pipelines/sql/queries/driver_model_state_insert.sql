-- grain: one row: the fitted drivers model as JSON.
insert into driver_model_state
values ($state_json)
