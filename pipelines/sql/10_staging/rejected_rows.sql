-- grain: one row per problem found in any input row; action says whether the row was dropped or a value emptied
with all_rejects as (
    select * from account_rejects
    union all
    select * from interaction_rejects
    union all
    select * from mrr_history_rejects
)

select
    cast(source as varchar) as source,
    cast(row_number as bigint) as row_number,
    cast(column_name as varchar) as "column",
    cast(reason as varchar) as reason,
    cast(raw_value as varchar) as raw_value,
    cast(action as varchar) as action
from all_rejects
