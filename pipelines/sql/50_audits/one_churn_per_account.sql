-- the panel's churn events are exactly the churned accounts, on their last row, once each
with panel_events as (
    select account_id, sum(churned) as n_churn_rows, max(stop_day) as last_stop_day,
        max(case when churned = 1 then stop_day end) as churn_stop_day
    from account_months
    group by account_id
)

select s.account_id, s.churned, s.duration_days, e.n_churn_rows, e.last_stop_day, e.churn_stop_day
from account_survival as s
left join panel_events as e on e.account_id = s.account_id
where (s.duration_days > 0 and e.account_id is null)
    or coalesce(e.n_churn_rows, 0) <> case when s.duration_days > 0 then s.churned else 0 end
    or (e.churn_stop_day is not null and e.churn_stop_day <> e.last_stop_day)
    or (e.last_stop_day is not null and e.last_stop_day <> s.duration_days)
