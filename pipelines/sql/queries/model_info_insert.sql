-- grain: one row: a model's information as JSON.
insert into model_info
values ($model, $info_json)
