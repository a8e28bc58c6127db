-- grain: the rows of {query} (a project query file) appended to table {table}: a later part of a table built in
-- parts.
insert into {table}
{query}
