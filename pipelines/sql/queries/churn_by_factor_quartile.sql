-- grain: one row per quartile of one panel measure ({measure}, an allow-listed quoted column) over the
-- account-months where it is known: monthly churn rate with a Wilson 95% interval.
with panel as (
    select m.{measure} as measure, m.churned
    from account_months as m
    join analysis_accounts as selected on selected.account_id = m.account_id
    where m.{measure} is not null
),

ranked as (
    select measure, churned, ntile(4) over (order by measure) as quartile
    from panel
),

by_quartile as (
    select
        quartile,
        min(measure) as measure_low,
        max(measure) as measure_high,
        count(*) as n_account_months,
        sum(churned) as n_churned
    from ranked
    group by quartile
),

rates as (
    select *, n_churned * 1.0 / n_account_months as churn_rate, 1.959964 as z from by_quartile
)

select
    cast(quartile as integer) as quartile,
    cast(measure_low as double) as measure_low,
    cast(measure_high as double) as measure_high,
    cast(n_account_months as bigint) as n_account_months,
    cast(n_churned as bigint) as n_churned,
    cast(churn_rate as double) as monthly_churn_rate,
    cast((churn_rate + z * z / (2 * n_account_months)
        - z * sqrt(churn_rate * (1 - churn_rate) / n_account_months + z * z / (4 * n_account_months * n_account_months)))
        / (1 + z * z / n_account_months) as double) as ci_lower,
    cast((churn_rate + z * z / (2 * n_account_months)
        + z * sqrt(churn_rate * (1 - churn_rate) / n_account_months + z * z / (4 * n_account_months * n_account_months)))
        / (1 + z * z / n_account_months) as double) as ci_upper
from rates
order by quartile
