-- grain: the rows of a model's result frame (registered as result_frame) appended to its table {table}, matched
-- by column name.
insert into {table} by name
select *
from result_frame
