-- grain: one row per account of the build: its id, to draw the benchmark's sample from.
select account_id
from account_survival
