-- A CSV input read into a table in file order (its rowid numbers the rows), for the refresh case's two exports.
select * from read_csv($path, header = true)
