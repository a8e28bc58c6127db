-- This build's input_digests from the refresh's (refresh_input_digests, every row up to the previous build's last
-- interaction) and the digests of the interactions appended since ({appended_digest_rows}, rows after
-- $after_row): each digest is a sum over rows, so summed per account and month they equal those of every row.
select source, account_id, recent_month, sum(n_rows) as n_rows, sum(row_digest) as row_digest
from (
    select source, account_id, recent_month, n_rows, row_digest from refresh_input_digests
    union all
    select source, account_id, recent_month, n_rows, row_digest from ({appended_digest_rows})
) as digests
group by source, account_id, recent_month
