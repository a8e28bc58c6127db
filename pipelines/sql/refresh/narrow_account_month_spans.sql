-- The account-month spans the refresh recomputes, kept before the panel is made from them: every span of a changed
-- account, those from from_date on of the others in refresh_accounts (the rows recomputed_account_months.sql takes
-- of the panel). The MRR by month, made whole, has read every span by then.
delete from account_month_spans as s
where not exists (
    select 1 from refresh_accounts as r
    where r.account_id = s.account_id and (r.is_changed or s.month_start >= r.from_date)
)
