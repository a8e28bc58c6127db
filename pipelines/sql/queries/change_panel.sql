-- grain: one row per account_months row: an account's month at risk with its tenure at the month's start, whether
-- it churned in it, its MRR and service measures ({measures}: quoted panel columns from the factor registry), and
-- whether the account is among those a change reached ({treated}: a bound filter predicate over account_survival's
-- columns, `true` when the change reached every account).
with reached as (
    select account_id, coalesce(({treated}), false) as is_treated
    from account_survival
)

select
    p.account_id,
    p.month_start,
    p.start_day as tenure_days,
    cast(p.churned as integer) as churned,
    p.mrr,
    {measures},
    r.is_treated
from account_months as p
inner join reached as r on r.account_id = p.account_id
