-- The interactions file as a later export writes it: the rows the earlier one had first, then the new ones.
select * from bench_interactions order by created_at >= $cut, rowid
