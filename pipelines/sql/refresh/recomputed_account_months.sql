-- The panel rows the refresh recomputed: every row of a changed account, the rows from from_date on of the others
-- in refresh_accounts (the other rows were made from only some of their interactions).
select n.*
from account_months as n
join refresh_accounts as r on r.account_id = n.account_id
where r.is_changed or n.month_start >= r.from_date
