-- grain: the rows of {query} (a project query file) written to the Parquet file $path, zstd-compressed.
copy ({query}) to $path (format parquet, compression zstd)
