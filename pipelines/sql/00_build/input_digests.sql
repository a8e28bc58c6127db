-- grain: one row per input and account id (the id as the file gives it; one row for rows with none): how many
-- rows the account has in that input, and the sum of a 64-bit hash of each such row with its row number. The
-- next build with --incremental compares them with its own inputs' to find the accounts whose rows changed.
-- kind: table
-- made by: build
create table input_digests (
    source varchar,
    account_id varchar,
    n_rows bigint,
    row_digest hugeint
)
