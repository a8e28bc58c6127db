-- grain: one row per segment column of the build, with its kind and number of levels.
select column_name, kind, n_levels
from segment_columns
order by column_name
