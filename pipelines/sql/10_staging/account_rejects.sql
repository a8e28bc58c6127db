-- grain: one row per problem found in a data row of the accounts file
with params as (
    select cast($as_of as date) as as_of_date, cast($earliest_plausible as date) as earliest_plausible_date
),

accounts as (
    select * from typed_accounts
),

row_problems as (
    select
        a._row,
        a.account_id,
        a.signup_date_raw,
        a.churn_date_raw,
        a.mrr_raw,
        a.account_id is null as is_missing_id,
        a.signup_date_raw is null as is_missing_signup,
        a.signup_date_raw is not null and a.signup_date is null as is_bad_signup,
        a.signup_date < p.earliest_plausible_date as is_implausible_signup,
        a.churn_date_raw is not null and a.churn_date is null as is_bad_churn,
        a.churn_date < a.signup_date as is_churn_before_signup,
        a.signup_date > p.as_of_date as is_after_as_of,
        a.mrr_raw is not null and a.mrr is null as is_bad_mrr,
        a.mrr < 0 as is_negative_mrr,
        a.mrr_raw is null as is_missing_mrr
    from accounts as a
    cross join params as p
),

dropped_before_dedup as (
    select
        *,
        coalesce(
            is_missing_id or is_missing_signup or is_bad_signup or is_implausible_signup
            or is_bad_churn or is_churn_before_signup or is_after_as_of,
            false
        ) as is_dropped
    from row_problems
),

-- the first otherwise-valid row with an id wins; later ones are duplicates
ranked as (
    select
        *,
        case when not is_dropped then
            min(_row) over (partition by account_id, is_dropped)
        end as first_row_with_id
    from dropped_before_dedup
),

problems as (
    select _row, 'account_id' as column_name, 'empty: every account needs an id' as reason,
        account_id as raw_value, 'row_dropped' as action
    from ranked where is_missing_id
    union all
    select _row, 'signup_date', 'empty: every account needs a signup date', cast(signup_date_raw as varchar), 'row_dropped'
    from ranked where is_missing_signup
    union all
    select _row, 'signup_date', 'not a valid ISO 8601 date (YYYY-MM-DD)', cast(signup_date_raw as varchar), 'row_dropped'
    from ranked where is_bad_signup
    union all
    select _row, 'signup_date', 'implausibly early date (before 1990-01-01)', cast(signup_date_raw as varchar), 'row_dropped'
    from ranked where is_implausible_signup
    union all
    select _row, 'churn_date', 'not a valid ISO 8601 date (YYYY-MM-DD); leave it empty for a current customer',
        cast(churn_date_raw as varchar), 'row_dropped'
    from ranked where is_bad_churn
    union all
    select _row, 'churn_date', 'churn_date is before signup_date (' || cast(signup_date_raw as varchar) || ')', cast(churn_date_raw as varchar), 'row_dropped'
    from ranked where is_churn_before_signup
    union all
    select _row, 'signup_date', 'after the as-of date: the account did not exist yet', cast(signup_date_raw as varchar), 'row_dropped'
    from ranked where is_after_as_of
    union all
    select _row, 'account_id', 'duplicate account_id: row ' || cast(first_row_with_id as varchar) || ' has the same id',
        account_id, 'row_dropped'
    from ranked where not is_dropped and _row > first_row_with_id
    union all
    select _row, 'mrr', 'not a number; revenue figures leave this account out', cast(mrr_raw as varchar), 'value_nulled'
    from ranked where not is_dropped and is_bad_mrr
    union all
    select _row, 'mrr', 'negative MRR; revenue figures leave this account out', cast(mrr_raw as varchar), 'value_nulled'
    from ranked where not is_dropped and is_negative_mrr
    union all
    select _row, 'mrr', 'empty; revenue figures leave this account out', cast(mrr_raw as varchar), 'value_nulled'
    from ranked where not is_dropped and is_missing_mrr
)

select
    'accounts' as source,
    cast(_row as bigint) as row_number,
    column_name,
    reason,
    raw_value,
    action
from problems
