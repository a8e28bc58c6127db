-- grain: one row per problem found in a data row of the accounts file
-- kind: temporary
-- engines: duckdb, spark
with params as (
    select cast($as_of as date) as as_of_date, cast($earliest_plausible as date) as earliest_plausible_date
),

accounts as (
    select * from typed_accounts
),

-- One row per check: the flag that raises it, the column it names, what the user reads, and whether the
-- row is dropped or only the value emptied. A reason's {detail} is filled from the row value named in
-- detail, so the user sees which other value the check compared against.
rules as (
    select * from (values
        ('is_missing_id', 'account_id', 'empty: every account needs an id', 'row_dropped', null),
        ('is_missing_signup', 'signup_date', 'empty: every account needs a signup date', 'row_dropped', null),
        ('is_bad_signup', 'signup_date', 'not a valid ISO 8601 date (YYYY-MM-DD)', 'row_dropped', null),
        ('is_implausible_signup', 'signup_date', 'implausibly early date (before 1990-01-01)', 'row_dropped', null),
        ('is_bad_churn', 'churn_date',
            'not a valid ISO 8601 date (YYYY-MM-DD); leave it empty for a current customer', 'row_dropped', null),
        ('is_churn_before_signup', 'churn_date', 'churn_date is before signup_date ({detail})', 'row_dropped',
            'signup_date_raw'),
        ('is_after_as_of', 'signup_date', 'after the as-of date: the account did not exist yet', 'row_dropped', null),
        ('is_duplicate_id', 'account_id', 'duplicate account_id: row {detail} has the same id', 'row_dropped',
            'first_row_with_id'),
        ('is_bad_mrr', 'mrr', 'not a number; revenue figures leave this account out', 'value_nulled', null),
        ('is_negative_mrr', 'mrr', 'negative MRR; revenue figures leave this account out', 'value_nulled', null),
        ('is_missing_mrr', 'mrr', 'empty; revenue figures leave this account out', 'value_nulled', null),
        ('is_reason_without_churn', 'churn_reason',
            'a churn reason on an account with no churn date: emptied', 'value_nulled', null)
    ) as rule (flag, column_name, reason, action, detail)
),

row_problems as (
    select
        a._row,
        a.account_id,
        a.signup_date_raw,
        a.churn_date_raw,
        a.mrr_raw,
        a.churn_reason,
        a.account_id is null as is_missing_id,
        a.signup_date_raw is null as is_missing_signup,
        a.signup_date_raw is not null and a.signup_date is null as is_bad_signup,
        a.signup_date < p.earliest_plausible_date as is_implausible_signup,
        a.churn_date_raw is not null and a.churn_date is null as is_bad_churn,
        a.churn_date < a.signup_date as is_churn_before_signup,
        a.signup_date > p.as_of_date as is_after_as_of,
        a.mrr_raw is not null and a.mrr is null as is_bad_mrr,
        a.mrr < 0 as is_negative_mrr,
        a.mrr_raw is null as is_missing_mrr,
        a.churn_reason is not null and a.churn_date_raw is null as is_reason_without_churn
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

-- every rule's flag as a column (and nothing else named is_*); an emptied value is only reported for a
-- row that is kept, duplicates included
row_flags as (
    select
        _row,
        account_id,
        signup_date_raw,
        churn_date_raw,
        mrr_raw,
        churn_reason,
        first_row_with_id,
        is_missing_id,
        is_missing_signup,
        is_bad_signup,
        is_implausible_signup,
        is_bad_churn,
        is_churn_before_signup,
        is_after_as_of,
        not is_dropped and _row > first_row_with_id as is_duplicate_id,
        not is_dropped and is_bad_mrr as is_bad_mrr,
        not is_dropped and is_negative_mrr as is_negative_mrr,
        not is_dropped and is_missing_mrr as is_missing_mrr,
        not is_dropped and is_reason_without_churn as is_reason_without_churn
    from ranked
),

-- one row per raised flag; rows without any are left out before they are unpivoted
raised_flags as (
    unpivot (select * from row_flags where greatest(*columns('^is_')))
    on columns('^is_')
    into name flag value is_raised
)

select
    'accounts' as source,
    cast(f._row as bigint) as row_number,
    r.column_name,
    replace(r.reason, '{detail}', coalesce(case r.detail
        when 'signup_date_raw' then cast(f.signup_date_raw as varchar)
        when 'first_row_with_id' then cast(f.first_row_with_id as varchar)
    end, '')) as reason,
    case r.column_name
        when 'account_id' then cast(f.account_id as varchar)
        when 'signup_date' then cast(f.signup_date_raw as varchar)
        when 'churn_date' then cast(f.churn_date_raw as varchar)
        when 'mrr' then cast(f.mrr_raw as varchar)
        when 'churn_reason' then cast(f.churn_reason as varchar)
    end as raw_value,
    r.action
from raised_flags as f
join rules as r on r.flag = f.flag
where f.is_raised
