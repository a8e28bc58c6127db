-- grain: one row per rejected accounts row, the first five by row number: why a build found no usable account,
-- and where the row is (its file, for a folder or glob of files, and its row there).
select row_number, "column", reason, input_file, input_file_row_number
from rejected_rows
where source = 'accounts'
order by row_number
limit 5
