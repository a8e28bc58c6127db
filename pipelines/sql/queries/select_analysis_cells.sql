-- grain: one statement: a temp table analysis_cells of the segment cells matching {predicate}, a bound filter
-- predicate from pipelines.filters on segment columns the cells are made of; kpi_monthly.sql then sums the
-- stored sums of those cells.
create temp table analysis_cells as
select cell_id
from segment_cells
where {predicate}
