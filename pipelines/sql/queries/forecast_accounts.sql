-- grain: one row per account of the build that passes {predicate} (the filters on account_survival's columns, values
-- bound as $filter_<i>, or true): its signup and churn dates as given (a churn after as-of included: a forecast from
-- an earlier origin reads only what was known by then) and the segment the forecast's hazards are estimated within
-- ({segment}: an allow-listed quoted column, or the constant 'all').
select
    account_id,
    signup_date,
    churn_date,
    cast({segment} as varchar) as segment
from account_survival
where {predicate}
