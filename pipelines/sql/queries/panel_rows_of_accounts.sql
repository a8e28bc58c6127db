-- grain: one row per account_months row of the accounts in panel_accounts (a registered frame of account ids: a
-- filtered subset or a sample): the columns a model reads ({columns}: quoted panel and segment columns).
select {columns}
from account_months
where account_id in (select account_id from panel_accounts)
-- in a fixed order: the build scans in parallel, and a fit's sums taken in another order differ in their last bits
order by account_id, month_start
