-- grain: one row per group, its per-day counts as lists in day order, as km_event_counts.sql counts them for no
-- filters, read from what the build stored (km_segment_counts): $segment_column names a categorical segment, NULL
-- means every account. Groups in the order of their values, the missing group last (as survival._split_groups).
select group_value, time_days, n_removed, n_events, mrr_removed, mrr_events, n_mrr_missing
from km_segment_counts
where segment_column is not distinct from $segment_column
order by group_value nulls last
