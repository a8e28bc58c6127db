-- grain: one row: among the staged accounts, how many have a value in one extra accounts column ({value}: its
-- cleaned text), and how many of those values read as numbers.
select
    count({value}) as non_empty,
    count(try_cast({value} as double)) as numeric
from raw_accounts as r
join stg_accounts as s on s.source_row = r._row
