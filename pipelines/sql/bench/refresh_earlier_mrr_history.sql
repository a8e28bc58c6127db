-- The MRR file as exported at $cut: the months before it.
select * from bench_mrr_history where month < $cut order by rowid
