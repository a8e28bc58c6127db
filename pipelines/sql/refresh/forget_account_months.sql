-- The previous build's panel rows, but those the refresh recomputed.
delete from previous_account_months as p
where exists (
    select 1 from refresh_accounts as r
    where r.account_id = p.account_id and (r.is_changed or p.month_start >= r.from_date)
)
