-- grain: one row per group per duration day, as km_event_counts.sql gives for no filters, read from the counts
-- the build stored (km_segment_counts): $segment_column names a categorical segment, NULL means every account.
select group_value, time_days, n_removed, n_events, mrr_removed, mrr_events, n_mrr_missing
from km_segment_counts
where segment_column is not distinct from $segment_column
