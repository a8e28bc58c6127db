-- The interactions the refresh recomputed, every one of them.
select * from interaction_metrics
