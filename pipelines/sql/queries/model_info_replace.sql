-- grain: one statement: drop a model's previous information row, before the new one is written.
delete from model_info
where model = $model
