-- grain: one row per demo ticket (t: the drawn tickets, registered as an Arrow table), in the layout of a
-- helpdesk export: ids T0000001..., the account's id, timestamps, channel, severity and the grades.
select
    'T' || lpad(cast(n as varchar), $id_width, '0') as interaction_id,
    'A' || lpad(cast(account as varchar), $account_width, '0') as account_id,
    cast(created_at as timestamp) as created_at,
    cast(first_response_at as timestamp) as first_response_at,
    cast(resolved_at as timestamp) as resolved_at,
    cast(channel as varchar) as channel,
    cast(severity as varchar) as severity,
    cast(csat as integer) as csat,
    cast(reopens as integer) as reopens,
    cast(handoffs as integer) as handoffs,
    cast(escalated as boolean) as escalated,
    cast(agent_updates as integer) as agent_updates,
    cast(credit_amount as decimal(14, 2)) as credit_amount
from t
order by n
