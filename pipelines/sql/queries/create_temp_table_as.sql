-- grain: the rows of {query} (a project query file) as temporary table {table} of this connection, replacing
-- any before; a temporary table shadows a database table of the same name on its own cursor.
create or replace temp table {table} as
{query}
