-- account_months has one row per account and month (candidates by a hash first, as unique_interactions finds them)
with candidate_repeats as (
    select hash(account_id, month_start) as row_hash
    from account_months
    group by hash(account_id, month_start)
    having count(*) > 1
)

select p.account_id, p.month_start, count(*) as n_rows
from account_months as p
join candidate_repeats as c on c.row_hash = hash(p.account_id, p.month_start)
group by p.account_id, p.month_start
having count(*) > 1
