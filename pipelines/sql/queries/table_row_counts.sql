-- One row per table or view of the build with its row count, as the build counted them (build_info).
select key as table_name, cast(value as bigint) as row_count
from build_info, json_each(row_counts_json)
order by table_name
