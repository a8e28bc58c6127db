-- grain: every row of table {table}, as it is (a table handed to another engine as Parquet).
select * from {table}
