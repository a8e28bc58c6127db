-- grain: one row per segment cell: the cells kpi_monthly.sql sums. The build takes every cell; the app replaces
-- this view in its own session with the cells a filter selects (queries/select_analysis_cells.sql), or with the
-- one cell of a filtered subset's own sums (queries/subset_analysis_cells.sql).
-- kind: view
-- engines: duckdb
create view analysis_cells as
select cell_id
from segment_cells
