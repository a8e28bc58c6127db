-- grain: one row per staged account: account_id, then each extra column of the accounts file as a segment to
-- slice by ({segment_values}: per column its cleaned text, or a number when every value is one, named as the
-- column).
-- kind: table
-- engines: duckdb
select s.account_id{segment_values}
from stg_accounts as s
join raw_accounts as r on r._row = s.source_row
order by s.account_id
