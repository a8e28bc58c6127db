-- grain: one row per account_months row: the columns a model reads ({columns}: quoted panel and segment
-- columns).
select {columns}
from account_months
-- in a fixed order: the build scans in parallel, and a fit's sums taken in another order differ in their last bits
order by account_id, month_start
