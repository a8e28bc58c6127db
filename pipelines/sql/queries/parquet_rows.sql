-- grain: the rows of the Parquet files matched by $path (a table another engine wrote), as they are.
select * from read_parquet($path)
