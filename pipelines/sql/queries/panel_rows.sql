-- grain: one row per account_months row: the columns a model reads ({columns}: quoted panel and segment
-- columns).
select {columns}
from account_months
