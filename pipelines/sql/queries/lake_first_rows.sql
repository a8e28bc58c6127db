-- grain: one row per file of a folder or glob input: its path as the Parquet reader's filename column spells it,
-- and the number of its first row (rows count on through the files in path order); from the registered frame.
select
    cast(filename as varchar) as filename,
    cast(first_row as bigint) as first_row
from lake_first_rows
