-- The previous build's interactions, but those the refresh recomputed.
delete from previous_interaction_metrics where source_row in (select _row from refresh_rows)
