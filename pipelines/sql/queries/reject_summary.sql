-- grain: one row per (source, column, reason, action) among the rejected rows, the 25 most common first: what
-- the CLI prints after a build.
select source, "column", reason, action, count(*) as n_rows
from rejected_rows
group by all
order by n_rows desc, source, "column"
limit 25
