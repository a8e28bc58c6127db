-- grain: one row per segment cell of account_cells: its id and the values that make it ({cell_values}:
-- `, s.<column>` for each column of account_survival the cells are made of), so a filter on those columns is a
-- predicate on this table.
-- kind: table
-- engines: duckdb
-- depends on: segment_columns
-- {cell_values} is read from segment_columns (filters.cell_columns)
select distinct c.cell_id{cell_values}
from account_cells as c
join account_survival as s on s.account_id = c.account_id
