-- grain: one row per account: its segment cell. Accounts with the same value in every column the app's sidebar
-- filters by ({cell_columns}: those columns of account_survival, the segments and the signup cohort; null when
-- there are none) share a cell, so the sums of kpi_monthly_cells for any of the sidebar's filters are a lookup
-- of the cells it selects.
-- kind: table
-- engines: duckdb
-- depends on: segment_columns
-- {cell_columns} is read from segment_columns (filters.cell_columns)
select account_id, cast(dense_rank() over (order by {cell_columns}) as integer) as cell_id
from account_survival
