-- grain: one row: one factor's own model as JSON.
insert into factor_model_state
values ($factor, $state_json)
