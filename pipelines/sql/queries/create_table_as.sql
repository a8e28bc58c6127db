-- grain: the rows of {query} (a project query file) as table {table}, replacing any table of that name.
create or replace table {table} as
{query}
