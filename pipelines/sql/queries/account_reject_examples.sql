-- grain: one row per rejected accounts row, the first five by row number: why a build found no usable account.
select row_number, "column", reason
from rejected_rows
where source = 'accounts'
order by row_number
limit 5
