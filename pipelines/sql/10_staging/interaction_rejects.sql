-- grain: one row per problem found in a data row of the interactions file
-- kind: temporary
-- engines: duckdb, spark
with params as (
    select cast($as_of as date) + 1 as as_of_cutoff_date  -- the as-of day is included to its end
),

-- "not materialized" here and below: the rows are read three times (their flags, the candidate repeats and those
-- repeats' first rows), and DuckDB would otherwise copy every column of every row once more to read them back,
-- which at tens of millions of rows no longer fits in memory and costs more than reading the table again.
interactions as not materialized (
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

-- One row per check: the flag that raises it, the column it names, what the user reads, and whether the
-- row is dropped or only the value emptied. A reason's {detail} is filled from the row value named in
-- detail, so the user sees which other value the check compared against.
rules as (
    select * from (values
        ('is_missing_id', 'interaction_id', 'empty: every interaction needs an id', 'row_dropped', null),
        ('is_missing_account', 'account_id', 'empty: every interaction needs the account it belongs to',
            'row_dropped', null),
        ('is_unknown_account', 'account_id', 'not found in the accounts file', 'row_dropped', null),
        ('is_rejected_account', 'account_id',
            'belongs to an accounts row that was rejected (see the accounts rejects)', 'row_dropped', null),
        ('is_missing_created', 'created_at', 'empty: every interaction needs its creation time', 'row_dropped', null),
        ('is_bad_created', 'created_at', 'not a valid ISO 8601 timestamp', 'row_dropped', null),
        ('is_before_signup', 'created_at', 'before the account''s signup_date ({detail})', 'row_dropped',
            'signup_date'),
        ('is_after_as_of', 'created_at', 'after the as-of date: excluded from this analysis', 'row_dropped', null),
        ('is_duplicate_id', 'interaction_id', 'duplicate interaction_id: row {detail} has the same id',
            'row_dropped', 'first_row_with_id'),
        ('is_bad_first_response', 'first_response_at', 'not a valid ISO 8601 timestamp', 'value_nulled', null),
        ('is_first_response_before_created', 'first_response_at', 'before created_at', 'value_nulled', null),
        ('is_first_response_after_as_of', 'first_response_at', 'after the as-of date: not yet known then',
            'value_nulled', null),
        ('is_bad_resolved', 'resolved_at', 'not a valid ISO 8601 timestamp', 'value_nulled', null),
        ('is_resolved_before_created', 'resolved_at', 'before created_at', 'value_nulled', null),
        ('is_resolved_after_as_of', 'resolved_at', 'after the as-of date: not yet known then', 'value_nulled', null),
        ('is_bad_severity', 'severity', 'not one of low, normal, high, urgent', 'value_nulled', null),
        ('is_bad_csat', 'csat', 'not a score from 1 to 5', 'value_nulled', null),
        ('is_bad_reopens', 'reopens', 'not a whole number >= 0', 'value_nulled', null),
        ('is_bad_handoffs', 'handoffs', 'not a whole number >= 0', 'value_nulled', null),
        ('is_bad_agent_updates', 'agent_updates', 'not a whole number >= 0', 'value_nulled', null),
        ('is_bad_escalated', 'escalated', 'not true/false (or 1/0, yes/no)', 'value_nulled', null),
        ('is_bad_credit_amount', 'credit_amount', 'not an amount >= 0', 'value_nulled', null)
    ) as rule (flag, column_name, reason, action, detail)
),

row_problems as not materialized (
    select
        i.*,
        a.signup_date,
        cast(p.as_of_cutoff_date as timestamp) as as_of_cutoff_at,
        i.interaction_id is null as is_missing_id,
        i.account_id is null as is_missing_account,
        i.account_id is not null and a.account_id is null and r.account_id is null as is_unknown_account,
        r.account_id is not null as is_rejected_account,
        -- no created_at, and none was given: one that was given and did not parse is is_bad_created
        i.created_at is null and not i.created_at_unparsed as is_missing_created,
        i.created_at_unparsed as is_bad_created,
        i.created_at < cast(a.signup_date as timestamp) as is_before_signup,
        i.created_at >= cast(p.as_of_cutoff_date as timestamp) as is_after_as_of
    from interactions as i
    cross join params as p
    left join accounts as a on a.account_id = i.account_id
    left join rejected_account_ids as r on r.account_id = i.account_id
),

dropped_before_dedup as not materialized (
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

-- the row that is kept: not dropped, and the first of its id
ranked_kept as (
    select *, not is_dropped and _row = first_row_with_id as is_kept
    from ranked
),

-- every rule's flag as a column (and nothing else named is_*); values that cannot be used are emptied
-- only in the row that is kept, and the interaction itself still counts
row_flags as (
    select
        _row,
        interaction_id,
        account_id,
        signup_date,
        first_row_with_id,
        is_missing_id,
        is_missing_account,
        is_unknown_account,
        is_rejected_account,
        is_missing_created,
        is_bad_created,
        is_before_signup,
        is_after_as_of,
        not is_dropped and _row > first_row_with_id as is_duplicate_id,
        is_kept and first_response_at_unparsed as is_bad_first_response,
        is_kept and first_response_at < created_at as is_first_response_before_created,
        is_kept and first_response_at >= as_of_cutoff_at as is_first_response_after_as_of,
        is_kept and resolved_at_unparsed as is_bad_resolved,
        is_kept and resolved_at < created_at as is_resolved_before_created,
        is_kept and resolved_at >= as_of_cutoff_at as is_resolved_after_as_of,
        is_kept and severity_unparsed as is_bad_severity,
        is_kept and (csat_unparsed or csat < 1 or csat > 5) as is_bad_csat,
        is_kept and (reopens_unparsed or reopens < 0 or reopens <> floor(reopens))
            as is_bad_reopens,
        is_kept and (handoffs_unparsed or handoffs < 0 or handoffs <> floor(handoffs))
            as is_bad_handoffs,
        is_kept and (agent_updates_unparsed or agent_updates < 0 or agent_updates <> floor(agent_updates))
            as is_bad_agent_updates,
        is_kept and escalated_unparsed as is_bad_escalated,
        is_kept and (credit_amount_unparsed or credit_amount < 0)
            as is_bad_credit_amount
    from ranked_kept
),

-- one row per raised flag; the many rows without any are left out before they are unpivoted
raised_flags as (
    unpivot (select * from row_flags where greatest(*columns('^is_')))
    on columns('^is_')
    into name flag value is_raised
),

-- the value each problem names, as the file gave it: read back by row number for the few rows reported
reported_raw as (
    select *
    from src_interactions
    where _row in (select f._row from raised_flags as f where f.is_raised)
)

select
    'interactions' as source,
    cast(f._row as bigint) as row_number,
    r.column_name,
    replace(r.reason, '{detail}', coalesce(case r.detail
        when 'signup_date' then cast(f.signup_date as varchar)
        when 'first_row_with_id' then cast(f.first_row_with_id as varchar)
    end, '')) as reason,
    case r.column_name
        when 'interaction_id' then cast(f.interaction_id as varchar)
        when 'account_id' then cast(f.account_id as varchar)
        when 'created_at' then cast(s.created_at as varchar)
        when 'first_response_at' then cast(s.first_response_at as varchar)
        when 'resolved_at' then cast(s.resolved_at as varchar)
        when 'severity' then cast(s.severity as varchar)
        when 'csat' then cast(s.csat as varchar)
        when 'reopens' then cast(s.reopens as varchar)
        when 'handoffs' then cast(s.handoffs as varchar)
        when 'escalated' then cast(s.escalated as varchar)
        when 'agent_updates' then cast(s.agent_updates as varchar)
        when 'credit_amount' then cast(s.credit_amount as varchar)
    end as raw_value,
    r.action
from raised_flags as f
join rules as r on r.flag = f.flag
left join reported_raw as s on s._row = f._row
where f.is_raised
