-- every panel row has positive length and starts where the previous one stopped
with ordered as (
    select
        account_id,
        month_start,
        start_day,
        stop_day,
        lag(stop_day) over (partition by account_id order by month_start) as previous_stop_day
    from account_months
)

select *
from ordered
where stop_day <= start_day
    or (previous_stop_day is not null and previous_stop_day <> start_day)
