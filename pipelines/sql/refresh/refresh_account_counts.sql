-- How many accounts have panel rows recomputed, and how many of them changed (recomputed whole).
select count(*), count(*) filter (where is_changed) from refresh_accounts
