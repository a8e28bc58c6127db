-- grain: one row per input, account id (the id as the file gives it; one row for rows with none) and, for
-- interactions created in the months before the as-of date (from refresh_basis.settled_before on), the month
-- they were created in (recent_month; NULL for the earlier ones, and for every accounts and MRR row): how many rows
-- that is, and the sum of a 64-bit hash of each row with its row number. The next build with --incremental
-- compares them with its own inputs' to find the accounts whose rows changed, and from which month.
-- kind: table
-- made by: build
create table input_digests (
    source varchar,
    account_id varchar,
    recent_month date,
    n_rows bigint,
    row_digest hugeint
)
