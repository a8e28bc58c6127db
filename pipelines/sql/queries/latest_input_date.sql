-- The default as-of date: the latest date found in the inputs (every timestamp and date column).
with typed_dates as (
    select max(signup_date) as latest_date from typed_accounts
    union all
    select max(churn_date) from typed_accounts
    union all
    select cast(max(created_at) as date) from typed_interactions
    union all
    select cast(max(first_response_at) as date) from typed_interactions
    union all
    select cast(max(resolved_at) as date) from typed_interactions
)

select max(latest_date) as latest_date from typed_dates
