-- grain: one row per account_months row of the accounts in panel_accounts (a registered frame of account ids: a
-- filtered subset or a sample): the columns a model reads ({columns}: quoted panel and segment columns).
select {columns}
from account_months
where account_id in (select account_id from panel_accounts)
