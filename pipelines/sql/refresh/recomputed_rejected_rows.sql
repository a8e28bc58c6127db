-- The rejected rows of the accounts and MRR files, and of the interactions the refresh recomputed.
select * from rejected_rows
