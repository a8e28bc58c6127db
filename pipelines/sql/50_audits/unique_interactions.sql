-- stg_interactions has one row per interaction_id.
-- Grouping a 64-bit hash of every id finds the candidate repeats in memory at tens of millions of rows, where
-- grouping the text of every id spills to disk; the few candidates are then grouped by the id itself, so a hash
-- collision can never raise a false failure.
with candidate_repeats as (
    select hash(interaction_id) as id_hash
    from stg_interactions
    group by hash(interaction_id)
    having count(*) > 1
)

select i.interaction_id, count(*) as n_rows
from stg_interactions as i
join candidate_repeats as c on c.id_hash = hash(i.interaction_id)
group by i.interaction_id
having count(*) > 1
