-- One row per interaction row (its _row) a refresh recomputes: every row of a changed account, of no account or
-- appended to the file; of the other accounts in refresh_accounts, every row a recomputed panel row's trailing
-- window reads (created from $window_days before from_date), every row whose repeat contact a later contact may
-- decide (resolved from $repeat_contact_days before it) and every row with a time from it on.
select t._row
from typed_interactions as t
left join refresh_accounts as r on r.account_id = cast(t.account_id as varchar)
where t.account_id is null
    or t._row > $previous_interaction_rows
    or r.is_changed
    or t.created_at >= cast(r.from_date - cast($window_days as integer) as timestamp)
    or t.resolved_at >= cast(r.from_date - cast($repeat_contact_days as integer) as timestamp)
    or t.first_response_at >= cast(r.from_date as timestamp)
