-- Every rejected row or emptied value, in file order.
select * from rejected_rows order by source, row_number
