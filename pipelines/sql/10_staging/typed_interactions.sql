-- grain: one row per data row of the interactions file; each value typed, NULL where it did not parse.
-- A value arrives as text, or already typed from Parquet (load._parquet_view): every expression takes both.
-- The raw text is not carried: a <column>_unparsed flag says a value was given but did not parse, and the rejects
-- read the raw text of the few rows they report back from src_interactions by row number. Carrying it doubled the
-- width of the largest working table, which at a million accounts no longer fit in DuckDB's memory.
-- kind: temporary
-- engines: duckdb, spark
with source_rows as (
    select * from src_interactions
),

typed as (
    select
        _row,
        interaction_id,
        account_id,
        created_at is not null as created_at_given,
        first_response_at is not null as first_response_at_given,
        resolved_at is not null as resolved_at_given,
        severity is not null as severity_given,
        csat is not null as csat_given,
        reopens is not null as reopens_given,
        handoffs is not null as handoffs_given,
        escalated is not null as escalated_given,
        agent_updates is not null as agent_updates_given,
        credit_amount is not null as credit_amount_given,
        channel,
        -- Text goes via timestamptz so an offset is honoured (the session time zone is UTC, so naive means
        -- UTC). A Parquet TIMESTAMP is already naive UTC: that round trip through the time zone library
        -- would leave it as it is and was half the cost of this table; typeof() is fixed per query, so
        -- DuckDB drops the branch that does not apply.
        -- Only ISO 8601 shapes are parsed ($iso_timestamp_pattern), so the rejects do not depend on the engine
        -- (contract.ISO_TIMESTAMP_PATTERN: what each engine would take beyond them).
        case when typeof(created_at) = 'TIMESTAMP' then try_cast(created_at as timestamp)
            else cast(try_cast(case when regexp_matches(cast(created_at as varchar),
                $iso_timestamp_pattern)
                then created_at end as timestamptz) as timestamp) end as created_at,
        case when typeof(first_response_at) = 'TIMESTAMP' then try_cast(first_response_at as timestamp)
            else cast(try_cast(case when regexp_matches(cast(first_response_at as varchar),
                $iso_timestamp_pattern)
                then first_response_at end as timestamptz) as timestamp) end as first_response_at,
        case when typeof(resolved_at) = 'TIMESTAMP' then try_cast(resolved_at as timestamp)
            else cast(try_cast(case when regexp_matches(cast(resolved_at as varchar),
                $iso_timestamp_pattern)
                then resolved_at end as timestamptz) as timestamp) end as resolved_at,
        case when list_contains($severities, lower(severity)) then lower(severity) end as severity,
        -- Text: plain decimal numbers only ($plain_number_pattern): DuckDB also takes 1_000, Spark 1d and 1f.
        -- A number typed in a Parquet file skips the pattern, whose test of its printed text costs more than
        -- the rest of this table; only a float's infinity would fail it (x - x is NaN for it alone).
        case
            when typeof(csat) = 'VARCHAR' then try_cast(
                case when regexp_matches(cast(csat as varchar), $plain_number_pattern) then csat end as double)
            when cast(csat as double) - cast(csat as double) = 0 then cast(csat as double)
        end as csat,
        case
            when typeof(reopens) = 'VARCHAR' then try_cast(
                case when regexp_matches(cast(reopens as varchar), $plain_number_pattern) then reopens end as double)
            when cast(reopens as double) - cast(reopens as double) = 0 then cast(reopens as double)
        end as reopens,
        case
            when typeof(handoffs) = 'VARCHAR' then try_cast(
                case when regexp_matches(cast(handoffs as varchar), $plain_number_pattern) then handoffs end as double)
            when cast(handoffs as double) - cast(handoffs as double) = 0 then cast(handoffs as double)
        end as handoffs,
        case
            when lower(cast(escalated as varchar)) in ('true', 't', '1', 'yes', 'y', '1.0') then true
            when lower(cast(escalated as varchar)) in ('false', 'f', '0', 'no', 'n', '0.0') then false
        end as escalated,
        case
            when typeof(agent_updates) = 'VARCHAR' then try_cast(
                case when regexp_matches(cast(agent_updates as varchar), $plain_number_pattern) then agent_updates end
                as double)
            when cast(agent_updates as double) - cast(agent_updates as double) = 0 then cast(agent_updates as double)
        end as agent_updates,
        case
            when typeof(credit_amount) = 'VARCHAR' then try_cast(
                case when regexp_matches(cast(credit_amount as varchar), $plain_number_pattern) then credit_amount end
                as double)
            when cast(credit_amount as double) - cast(credit_amount as double) = 0 then cast(credit_amount as double)
        end as credit_amount
    from source_rows
)

-- a value given that did not parse; a parsed value out of range is judged by the rejects on the typed value
select
    _row,
    interaction_id,
    account_id,
    channel,
    created_at,
    first_response_at,
    resolved_at,
    severity,
    csat,
    reopens,
    handoffs,
    escalated,
    agent_updates,
    credit_amount,
    created_at_given and created_at is null as created_at_unparsed,
    first_response_at_given and first_response_at is null as first_response_at_unparsed,
    resolved_at_given and resolved_at is null as resolved_at_unparsed,
    severity_given and severity is null as severity_unparsed,
    csat_given and csat is null as csat_unparsed,
    reopens_given and reopens is null as reopens_unparsed,
    handoffs_given and handoffs is null as handoffs_unparsed,
    escalated_given and escalated is null as escalated_unparsed,
    agent_updates_given and agent_updates is null as agent_updates_unparsed,
    credit_amount_given and credit_amount is null as credit_amount_unparsed
from typed
