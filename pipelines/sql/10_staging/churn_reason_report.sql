-- grain: one row per churn reason given by the churned accounts (folded: lower case, trimmed), and one for the
-- churned accounts that give none: the cause it counts under, whether the reasons file lists it, and how many
-- accounts give it. A reason the file does not list counts under its other_reasons cause; the load report and
-- the Data page list those, so nothing is mapped unseen.
-- kind: table
-- engines: duckdb, spark
with churned as (
    select lower(trim(churn_reason)) as reason_key, churn_cause
    from stg_accounts
    where churn_date is not null
),

listed as (
    select reason_key from churn_reason_causes where reason_key is not null
)

select
    cast(c.reason_key as varchar) as reason,
    cast(any_value(c.churn_cause) as varchar) as cause,
    cast(case
        when c.reason_key is null then 'no reason given'
        when any_value(l.reason_key) is not null then 'listed in the reasons file'
        else 'not listed: counted under other_reasons'
    end as varchar) as mapped_by,
    cast(count(*) as bigint) as accounts
from churned as c
left join listed as l on l.reason_key = c.reason_key
group by c.reason_key
order by accounts desc, reason
