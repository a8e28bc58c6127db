-- grain: one row per problem found in a data row of the mrr_history file
-- kind: temporary
-- engines: duckdb, spark
with params as (
    select cast($as_of as date) as as_of_date
),

-- not materialized, here and below, for the reason given in interaction_rejects.sql
history as not materialized (
    select * from typed_mrr_history
),

accounts as (
    select account_id, signup_date, churn_date from stg_accounts
),

-- One row per check: the flag that raises it, the column it names, what the user reads, and what happens
-- (every problem here drops the row). A reason's {detail} is filled from the row value named in detail,
-- so the user sees which other value the check compared against.
rules as (
    select * from (values
        ('is_missing_account', 'account_id', 'empty', 'row_dropped', null),
        ('is_unknown_account', 'account_id', 'not found among the loaded accounts', 'row_dropped', null),
        ('is_bad_month', 'month', 'not a month (YYYY-MM or YYYY-MM-DD)', 'row_dropped', null),
        ('is_bad_mrr', 'mrr', 'not a number', 'row_dropped', null),
        ('is_negative_mrr', 'mrr', 'negative MRR', 'row_dropped', null),
        ('is_after_as_of', 'month', 'after the as-of date: excluded from this analysis', 'row_dropped', null),
        ('is_before_signup', 'month', 'before the account''s signup month ({detail})', 'row_dropped', 'signup_date'),
        ('is_after_churn', 'month', 'after the account''s churn_date ({detail})', 'row_dropped', 'churn_date'),
        ('is_duplicate_month', 'month', 'duplicate month for this account: row {detail} has it too', 'row_dropped',
            'first_row_with_key')
    ) as rule (flag, column_name, reason, action, detail)
),

row_problems as not materialized (
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

dropped_before_dedup as not materialized (
    select
        *,
        coalesce(
            is_missing_account or is_unknown_account or is_bad_month or is_bad_mrr or is_negative_mrr
            or is_after_as_of or is_before_signup or is_after_churn,
            false
        ) as is_dropped
    from row_problems
),

-- The first row (in file order) of an account's month wins. As in interaction_rejects.sql, grouping by a 64-bit
-- hash of the key finds the candidate repeats (where a window over the text key is the costliest step at tens of
-- millions of rows), and grouping the few candidates by the key itself keeps only true repeats.
candidate_repeats as (
    select hash(account_id, month_start) as key_hash
    from dropped_before_dedup
    where not is_dropped
    group by hash(account_id, month_start)
    having count(*) > 1
),

repeated_keys as (
    select d.account_id, d.month_start, min(d._row) as first_row_with_key
    from dropped_before_dedup as d
    join candidate_repeats as c on c.key_hash = hash(d.account_id, d.month_start)
    where not d.is_dropped
    group by d.account_id, d.month_start
    having count(*) > 1
),

ranked as (
    select
        d.*,
        case when not d.is_dropped then coalesce(r.first_row_with_key, d._row) end as first_row_with_key
    from dropped_before_dedup as d
    left join repeated_keys as r on r.account_id = d.account_id and r.month_start = d.month_start
),

-- every rule's flag as a column (and nothing else named is_*)
row_flags as (
    select
        _row,
        account_id,
        month_raw,
        mrr_raw,
        signup_date,
        churn_date,
        first_row_with_key,
        is_missing_account,
        is_unknown_account,
        is_bad_month,
        is_bad_mrr,
        is_negative_mrr,
        is_after_as_of,
        is_before_signup,
        is_after_churn,
        not is_dropped and _row > first_row_with_key as is_duplicate_month
    from ranked
),

-- one row per raised flag; rows without any are left out before they are unpivoted
raised_flags as (
    unpivot (select * from row_flags where greatest(*columns('^is_')))
    on columns('^is_')
    into name flag value is_raised
)

select
    'mrr_history' as source,
    cast(f._row as bigint) as row_number,
    r.column_name,
    replace(r.reason, '{detail}', coalesce(case r.detail
        when 'signup_date' then cast(f.signup_date as varchar)
        when 'churn_date' then cast(f.churn_date as varchar)
        when 'first_row_with_key' then cast(f.first_row_with_key as varchar)
    end, '')) as reason,
    case r.column_name
        when 'account_id' then cast(f.account_id as varchar)
        when 'month' then cast(f.month_raw as varchar)
        when 'mrr' then cast(f.mrr_raw as varchar)
    end as raw_value,
    r.action
from raised_flags as f
join rules as r on r.flag = f.flag
where f.is_raised
