-- The refresh case's cut: the day after the inputs' latest date less $days days (the earlier export holds what was
-- known before it).
select cast(greatest(max(created_at), max(resolved_at), max(first_response_at)) as date) + 1 - cast($days as integer)
from bench_interactions
