-- grain: one statement: attach the build file at $path read-only as `build`, in a reader's own DuckDB instance.
attach $path as build (read_only)
