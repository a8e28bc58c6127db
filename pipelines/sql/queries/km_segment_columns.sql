-- grain: one row per segment column of the build: the names a user may filter or group survival by.
select column_name, kind
from segment_columns
order by column_name
