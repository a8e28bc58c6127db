-- grain: one row per table or view in the main schema; survival needs account_survival and segment_columns.
select table_name
from information_schema.tables
where table_schema = 'main'
