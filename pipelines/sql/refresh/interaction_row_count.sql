-- How many interaction rows this build reads.
select count(*) from src_interactions
