-- An interaction id on a recomputed row and on a reused one (the first row of an id wins, so the refresh cannot
-- decide between them without the other): the id and both rows, or no row.
with recomputed as (
    select t.interaction_id, t._row
    from typed_interactions as t
    semi join refresh_rows as r on r._row = t._row
    where t.interaction_id is not null
),

reused as (
    select t.interaction_id, t._row
    from typed_interactions as t
    anti join refresh_rows as r on r._row = t._row
    where t.interaction_id is not null
)

select cast(c.interaction_id as varchar), c._row, u._row
from recomputed as c
join reused as u on u.interaction_id = c.interaction_id
order by c._row, u._row
limit 1
