-- grain: the rows of table {rows}, each with its data row number first (_row): a table's insertion order is the
-- file's order, so rowid + 1 is the row's number in the file
select rowid + 1 as _row, * from {rows}
