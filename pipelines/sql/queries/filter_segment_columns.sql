-- grain: one row per categorical segment column with at most $max_levels distinct values (the segments the app
-- offers as filters), by name.
select column_name
from segment_columns
where kind = 'categorical' and n_levels <= $max_levels
order by column_name
