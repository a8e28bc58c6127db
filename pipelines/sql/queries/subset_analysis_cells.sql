-- grain: one statement: a temp table analysis_cells holding the one cell of subset_account_cells.sql.
create temp table analysis_cells as
select cast(1 as integer) as cell_id
