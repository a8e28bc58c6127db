-- grain: one row: the number of rows the Parquet file $path holds (from its footer; no data is read).
select sum(num_rows) as n_rows
from parquet_file_metadata($path)
