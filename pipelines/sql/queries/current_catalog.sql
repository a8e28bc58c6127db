-- grain: one row: the name of this connection's own database (its catalog), to name its tables where a temporary
-- object of the same name shadows them.
select current_database() as catalog_name
