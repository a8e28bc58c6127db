-- grain: one row: the rows of the Parquet file $path and a hash sum of every column, which makes DuckDB read
-- and decode every value (no file statistic can answer it): the cost of reading an input, the build's floor.
select count(*) as n_rows, sum(hash(columns(*)))
from read_parquet($path)
