-- grain: one row per problem found in a data row of the mrr_history file
with params as (
    select cast($as_of as date) as as_of_date
),

history as (
    select * from typed_mrr_history
),

accounts as (
    select account_id, signup_date, churn_date from stg_accounts
),

row_problems as (
    select
        h.*,
        a.signup_date,
        a.churn_date,
        h.account_id is null as is_missing_account,
        h.account_id is not null and a.account_id is null as is_unknown_account,
        h.month_start is null as is_bad_month,
        h.mrr is null as is_bad_mrr,
        h.mrr < 0 as is_negative_mrr,
        h.month_start > p.as_of_date as is_after_as_of,
        h.month_start < cast(date_trunc('month', a.signup_date) as date) as is_before_signup,
        h.month_start > a.churn_date as is_after_churn
    from history as h
    cross join params as p
    left join accounts as a on a.account_id = h.account_id
),

dropped_before_dedup as (
    select
        *,
        coalesce(
            is_missing_account or is_unknown_account or is_bad_month or is_bad_mrr or is_negative_mrr
            or is_after_as_of or is_before_signup or is_after_churn,
            false
        ) as is_dropped
    from row_problems
),

ranked as (
    select
        *,
        case when not is_dropped then
            min(_row) over (partition by account_id, month_start, is_dropped)
        end as first_row_with_key
    from dropped_before_dedup
),

problems as (
    select _row, 'account_id' as column_name, 'empty' as reason, account_id as raw_value, 'row_dropped' as action
    from ranked where is_missing_account
    union all
    select _row, 'account_id', 'not found among the loaded accounts', account_id, 'row_dropped'
    from ranked where is_unknown_account
    union all
    select _row, 'month', 'not a month (YYYY-MM or YYYY-MM-DD)', cast(month_raw as varchar), 'row_dropped'
    from ranked where is_bad_month
    union all
    select _row, 'mrr', 'not a number', cast(mrr_raw as varchar), 'row_dropped'
    from ranked where is_bad_mrr
    union all
    select _row, 'mrr', 'negative MRR', cast(mrr_raw as varchar), 'row_dropped'
    from ranked where is_negative_mrr
    union all
    select _row, 'month', 'after the as-of date: excluded from this analysis', cast(month_raw as varchar), 'row_dropped'
    from ranked where is_after_as_of
    union all
    select _row, 'month', 'before the account''s signup month (' || cast(signup_date as varchar) || ')', cast(month_raw as varchar), 'row_dropped'
    from ranked where is_before_signup
    union all
    select _row, 'month', 'after the account''s churn_date (' || cast(churn_date as varchar) || ')', cast(month_raw as varchar), 'row_dropped'
    from ranked where is_after_churn
    union all
    select _row, 'month', 'duplicate month for this account: row ' || cast(first_row_with_key as varchar) || ' has it too',
        cast(month_raw as varchar), 'row_dropped'
    from ranked where not is_dropped and _row > first_row_with_key
)

select
    'mrr_history' as source,
    cast(_row as bigint) as row_number,
    column_name,
    reason,
    raw_value,
    action
from problems
