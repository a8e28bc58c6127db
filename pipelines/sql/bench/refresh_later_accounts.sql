-- The accounts file as a later export writes it: the accounts the earlier one had first, in its order, then the new.
select * from bench_accounts order by signup_date >= $cut, rowid
