-- The previous build's as-of date, read from the copy of its database before the plan replaces build_info.
select as_of_date from build_info
