-- How many interaction rows were typed, before a refresh keeps only those it recomputes.
select count(*) from typed_interactions
