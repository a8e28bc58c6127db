-- One row per account whose panel rows a refresh recomputes: whole (is_changed) or from the month from_date on.
-- An account whose input rows changed is recomputed from the month refresh_changed_accounts gives, or whole.
-- An account active at the previous as-of date gains days and months; one with interactions appended to the file,
-- with a time after the previous as-of date or with a repeat-contact outcome not yet known at it has rows from that
-- month on that may read them. An account staged now and not then, or then and not now, is recomputed whole: its row
-- in the file may be the same while the as-of date decides (a signup after the previous as-of date was rejected).
-- So is an account with an MRR row for a month after the previous as-of date, which that build rejected, and no row
-- that build accepted (by the checks of mrr_history_rejects.sql but duplicates, which keep one row): its first
-- accepted figure is now carried back over every earlier month.
with previous_cutoff as (
    select cast($previous_as_of as date) + 1 as cutoff_date,
        cast(date_trunc('month', cast($previous_as_of as date)) as date) as as_of_month
),

reasons as (
    select account_id, changed_from is null as is_changed, changed_from as from_date
    from refresh_changed_accounts
    where account_id is not null
    union all
    select a.account_id, false, c.as_of_month
    from previous_stg_accounts as a
    cross join previous_cutoff as c
    where a.churn_date is null or a.churn_date >= c.cutoff_date
    union all
    select coalesce(n.account_id, p.account_id), true, cast(null as date)
    from stg_accounts as n
    full join previous_stg_accounts as p on p.account_id = n.account_id
    where n.account_id is null or p.account_id is null
    union all
    select cast(h.account_id as varchar), true, cast(null as date)
    from typed_mrr_history as h
    cross join previous_cutoff as c
    left join previous_stg_accounts as a on a.account_id = cast(h.account_id as varchar)
    where h.account_id is not null
    group by all
    having bool_or(h.month_start >= c.cutoff_date)
        and not coalesce(bool_or(h.month_start < c.cutoff_date and h.mrr >= 0
            and h.month_start >= cast(date_trunc('month', a.signup_date) as date)
            and (a.churn_date is null or h.month_start <= a.churn_date)), false)
    union all
    select cast(t.account_id as varchar), false, cast(date_trunc('month', min(t.created_at)) as date)
    from typed_interactions as t
    where t._row > $previous_interaction_rows and t.account_id is not null
    group by all
    union all
    select distinct cast(t.account_id as varchar), false, c.as_of_month
    from typed_interactions as t
    cross join previous_cutoff as c
    where t._row <= $previous_interaction_rows and t.account_id is not null
        and (t.created_at >= c.cutoff_date or t.first_response_at >= c.cutoff_date
            or t.resolved_at >= c.cutoff_date - cast($repeat_contact_days as integer))
)

select account_id, bool_or(is_changed) as is_changed, min(from_date) as from_date
from reasons
group by account_id
