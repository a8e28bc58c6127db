-- grain: one row: how many rows table {table} holds.
select count(*) as n_rows
from {table}
