-- grain: one row per group, its per-day counts as lists in day order, as km_event_counts.sql counts them for no
-- filters, and the as-of date, read from what the build stored (km_segment_counts): $segment_column names a
-- categorical segment, NULL means every account. No ORDER BY: survival orders the few groups.
select group_value, time_days, n_removed, n_events, mrr_removed, mrr_events, n_mrr_missing, as_of_date
from km_segment_counts
where segment_column is not distinct from $segment_column
