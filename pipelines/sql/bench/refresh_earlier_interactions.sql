-- The interactions file as exported at $cut: those created before it, a response or resolution on or after it not
-- yet known.
select * replace (
    case when first_response_at >= $cut then null else first_response_at end as first_response_at,
    case when resolved_at >= $cut then null else resolved_at end as resolved_at)
from bench_interactions
where created_at < $cut
order by rowid
