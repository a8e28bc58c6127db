-- grain: one row: quartile cut points (values that occur in the data) and the number of distinct
-- values of one numeric column over the filtered accounts, to group survival by quartile.
-- Template slots as in km_event_counts.sql: {group_column} is an allow-listed quoted column.
select
    quantile_disc({group_column}, [0.25, 0.5, 0.75]) as cut_points,
    cast(count(distinct {group_column}) as bigint) as n_distinct
from account_survival
where {filter_predicate}
