-- grain: one row per segment column of the build with its kind (numeric or categorical).
select column_name, kind
from segment_columns
