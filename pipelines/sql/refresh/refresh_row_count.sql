-- How many interaction rows the refresh recomputes.
select count(*) from refresh_rows
