-- grain: view {view} over the rows of {query}, replacing any before (a query the code builds from what it found
-- in an input, such as the source views over the raw files)
create or replace view {view} as
{query}
