-- grain: one row: the stored drivers model as JSON.
select state_json
from driver_model_state
