-- grain: one statement: a temp table account_cells putting every account of the filtered subset
-- (analysis_accounts) in one cell, for a filter the stored cells cannot answer; kpi_monthly_cells.sql then sums
-- the subset's own accounts.
create temp table account_cells as
select account_id, cast(1 as integer) as cell_id
from analysis_accounts
