-- The accounts file as exported at $cut: accounts signed up before it, a churn on or after it not yet known (a churn
-- reason, where the file has them, is left: staging empties a reason without a churn date and says so).
select * replace (case when churn_date >= $cut then null else churn_date end as churn_date)
from bench_accounts
where signup_date < $cut
order by rowid
