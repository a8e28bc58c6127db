-- The typed interactions a refresh recomputes (refresh_rows): the only ones the staging and metrics read after.
select t.*
from typed_interactions as t
semi join refresh_rows as r on r._row = t._row
