-- grain: every row of table {table} of the attached build file (database `build`), as it is.
select * from build.main.{table}
