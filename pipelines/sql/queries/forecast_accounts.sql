-- grain: one row per account of the build that passes {predicate} (the filters on account_survival's columns, values
-- bound as $filter_<i>, or true): its account_key (its place in account_survival's order of account_id, the number
-- forecast_mrr gives its MRR: a million ids as text would cost the forecast gigabytes), its signup and churn dates as
-- given (a churn after as-of included: a forecast from an earlier origin reads only what was known by then), the
-- churn's cause (empty without churn reasons) and the segment the forecast's hazards are estimated within
-- ({segment}: an allow-listed quoted column, or the constant 'all').
with keyed as (
    select *, row_number() over (order by account_id) as account_key
    from account_survival
)
select
    cast(account_key as integer) as account_key,
    signup_date,
    churn_date,
    churn_cause,
    cast({segment} as varchar) as segment
from keyed
where {predicate}
