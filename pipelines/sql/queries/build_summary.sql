-- The build's identity and as-of date, for the Data page header.
select build_id, as_of_date, built_at, tool_version, revenue_basis, build_seconds
from build_info
