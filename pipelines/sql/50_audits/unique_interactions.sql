-- stg_interactions has one row per interaction_id
select interaction_id, count(*) as n_rows
from stg_interactions
group by interaction_id
having count(*) > 1
