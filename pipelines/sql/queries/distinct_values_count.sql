-- grain: one row: how many distinct values column {column} of table {table} holds.
select count(distinct {column}) as n_values
from {table}
