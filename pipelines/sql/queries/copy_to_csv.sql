-- grain: the rows of {query} (a project query file) written to the CSV file $path, with a header row.
copy ({query}) to $path (format csv, header true)
