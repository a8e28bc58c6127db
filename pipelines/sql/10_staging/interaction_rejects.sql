-- grain: one row per problem found in a data row of the interactions file
with params as (
    select cast($as_of as date) + 1 as as_of_cutoff_date  -- the as-of day is included to its end
),

interactions as (
    select * from typed_interactions
),

accounts as (
    select account_id, signup_date from stg_accounts
),

rejected_account_ids as (
    select distinct t.account_id
    from typed_accounts as t
    left join stg_accounts as s on s.account_id = t.account_id
    where s.account_id is null and t.account_id is not null
),

row_problems as (
    select
        i.*,
        a.signup_date,
        cast(p.as_of_cutoff_date as timestamp) as as_of_cutoff_at,
        i.interaction_id is null as is_missing_id,
        i.account_id is null as is_missing_account,
        i.account_id is not null and a.account_id is null and r.account_id is null as is_unknown_account,
        r.account_id is not null as is_rejected_account,
        i.created_at_raw is null as is_missing_created,
        i.created_at_raw is not null and i.created_at is null as is_bad_created,
        i.created_at < cast(a.signup_date as timestamp) as is_before_signup,
        i.created_at >= cast(p.as_of_cutoff_date as timestamp) as is_after_as_of
    from interactions as i
    cross join params as p
    left join accounts as a on a.account_id = i.account_id
    left join rejected_account_ids as r on r.account_id = i.account_id
),

dropped_before_dedup as (
    select
        *,
        coalesce(
            is_missing_id or is_missing_account or is_unknown_account or is_rejected_account
            or is_missing_created or is_bad_created or is_before_signup or is_after_as_of,
            false
        ) as is_dropped
    from row_problems
),

-- The first row (in file order) of an id wins. Grouping by a 64-bit hash of the id finds the candidate
-- repeats (a parallel aggregate on integers, where grouping or windowing on the text of every id is the
-- costliest step at tens of millions of rows); grouping the few candidates by the id itself then keeps
-- only true repeats, so a hash collision can never drop a row.
candidate_repeats as (
    select hash(interaction_id) as id_hash
    from dropped_before_dedup
    where not is_dropped
    group by hash(interaction_id)
    having count(*) > 1
),

repeated_ids as (
    select d.interaction_id, min(d._row) as first_row_with_id
    from dropped_before_dedup as d
    join candidate_repeats as c on c.id_hash = hash(d.interaction_id)
    where not d.is_dropped
    group by d.interaction_id
    having count(*) > 1
),

ranked as (
    select
        d.*,
        case when not d.is_dropped then coalesce(r.first_row_with_id, d._row) end as first_row_with_id
    from dropped_before_dedup as d
    left join repeated_ids as r on r.interaction_id = d.interaction_id
),

kept as (
    select * from ranked where not is_dropped and _row = first_row_with_id
),

problems as (
    select _row, 'interaction_id' as column_name, 'empty: every interaction needs an id' as reason,
        interaction_id as raw_value, 'row_dropped' as action
    from ranked where is_missing_id
    union all
    select _row, 'account_id', 'empty: every interaction needs the account it belongs to', account_id, 'row_dropped'
    from ranked where is_missing_account
    union all
    select _row, 'account_id', 'not found in the accounts file', account_id, 'row_dropped'
    from ranked where is_unknown_account
    union all
    select _row, 'account_id', 'belongs to an accounts row that was rejected (see the accounts rejects)', account_id, 'row_dropped'
    from ranked where is_rejected_account
    union all
    select _row, 'created_at', 'empty: every interaction needs its creation time', cast(created_at_raw as varchar), 'row_dropped'
    from ranked where is_missing_created
    union all
    select _row, 'created_at', 'not a valid ISO 8601 timestamp', cast(created_at_raw as varchar), 'row_dropped'
    from ranked where is_bad_created
    union all
    select _row, 'created_at', 'before the account''s signup_date (' || cast(signup_date as varchar) || ')',
        cast(created_at_raw as varchar), 'row_dropped'
    from ranked where is_before_signup
    union all
    select _row, 'created_at', 'after the as-of date: excluded from this analysis', cast(created_at_raw as varchar), 'row_dropped'
    from ranked where is_after_as_of
    union all
    select _row, 'interaction_id', 'duplicate interaction_id: row ' || cast(first_row_with_id as varchar) || ' has the same id',
        interaction_id, 'row_dropped'
    from ranked where not is_dropped and _row > first_row_with_id

    -- values that cannot be used are emptied; the interaction itself still counts
    union all
    select _row, 'first_response_at', 'not a valid ISO 8601 timestamp', cast(first_response_at_raw as varchar), 'value_nulled'
    from kept where first_response_at_raw is not null and first_response_at is null
    union all
    select _row, 'first_response_at', 'before created_at', cast(first_response_at_raw as varchar), 'value_nulled'
    from kept where first_response_at < created_at
    union all
    select _row, 'first_response_at', 'after the as-of date: not yet known then', cast(first_response_at_raw as varchar), 'value_nulled'
    from kept where first_response_at >= as_of_cutoff_at
    union all
    select _row, 'resolved_at', 'not a valid ISO 8601 timestamp', cast(resolved_at_raw as varchar), 'value_nulled'
    from kept where resolved_at_raw is not null and resolved_at is null
    union all
    select _row, 'resolved_at', 'before created_at', cast(resolved_at_raw as varchar), 'value_nulled'
    from kept where resolved_at < created_at
    union all
    select _row, 'resolved_at', 'after the as-of date: not yet known then', cast(resolved_at_raw as varchar), 'value_nulled'
    from kept where resolved_at >= as_of_cutoff_at
    union all
    select _row, 'severity', 'not one of low, normal, high, urgent', cast(severity_raw as varchar), 'value_nulled'
    from kept where severity_raw is not null and severity is null
    union all
    select _row, 'csat', 'not a score from 1 to 5', cast(csat_raw as varchar), 'value_nulled'
    from kept where csat_raw is not null and (csat is null or csat < 1 or csat > 5)
    union all
    select _row, 'reopens', 'not a whole number >= 0', cast(reopens_raw as varchar), 'value_nulled'
    from kept where reopens_raw is not null and (reopens is null or reopens < 0 or reopens <> floor(reopens))
    union all
    select _row, 'handoffs', 'not a whole number >= 0', cast(handoffs_raw as varchar), 'value_nulled'
    from kept where handoffs_raw is not null and (handoffs is null or handoffs < 0 or handoffs <> floor(handoffs))
    union all
    select _row, 'agent_updates', 'not a whole number >= 0', cast(agent_updates_raw as varchar), 'value_nulled'
    from kept where agent_updates_raw is not null
        and (agent_updates is null or agent_updates < 0 or agent_updates <> floor(agent_updates))
    union all
    select _row, 'escalated', 'not true/false (or 1/0, yes/no)', cast(escalated_raw as varchar), 'value_nulled'
    from kept where escalated_raw is not null and escalated is null
    union all
    select _row, 'credit_amount', 'not an amount >= 0', cast(credit_amount_raw as varchar), 'value_nulled'
    from kept where credit_amount_raw is not null and (credit_amount is null or credit_amount < 0)
)

select
    'interactions' as source,
    cast(_row as bigint) as row_number,
    column_name,
    reason,
    raw_value,
    action
from problems
