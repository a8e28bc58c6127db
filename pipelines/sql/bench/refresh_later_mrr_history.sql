-- The MRR file as a later export writes it: the months the earlier one had first, then the new ones.
select * from bench_mrr_history order by month >= $cut, rowid
