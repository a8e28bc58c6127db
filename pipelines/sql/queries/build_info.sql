-- grain: one row: the build's settings, inputs and counts (JSON columns decoded by the reader).
select *
from build_info
