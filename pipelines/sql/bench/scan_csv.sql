-- grain: one row: the rows of the CSV file $path and a hash sum of every column, which makes DuckDB read and
-- parse every value: the cost of reading an input, the build's floor.
select count(*) as n_rows, sum(hash(columns(*)))
from read_csv($path, header = true)
