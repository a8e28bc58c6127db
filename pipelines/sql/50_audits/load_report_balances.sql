-- every row read is either loaded or dropped, never lost
select *
from load_report
where rows_read <> rows_loaded + rows_dropped
    or rows_after_as_of > rows_dropped
