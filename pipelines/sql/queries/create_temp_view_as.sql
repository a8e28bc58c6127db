-- grain: the rows of {query} (a project query file) as temporary view {view} of this connection, replacing any
-- before; a temporary view shadows a database table of the same name on its own cursor, and its query runs anew
-- at each read, so nothing is copied.
create or replace temp view {view} as
{query}
