-- grain: one row per factor per quartile: the sums of the per-account rows in revenue_account_quartiles
-- (what revenue_account_quartiles.sql returns, kept in DuckDB so a million accounts never reach pandas).
-- The order (factor, quartile) is the order of revenue_bootstrap_entries.sql's group_index.
select
    cast(factor as varchar) as factor,
    cast(quartile as integer) as quartile,
    cast(min(measure_low) as double) as measure_low,
    cast(max(measure_high) as double) as measure_high,
    cast(sum(n_account_months) as bigint) as n_account_months,
    cast(count(distinct account_id) as bigint) as n_accounts,
    cast(sum(n_churned) as bigint) as n_churned,
    cast(sum(starting_mrr) as double) as starting_mrr,
    cast(sum(next_month_mrr) as double) as next_month_mrr,
    cast(sum(expansion_mrr) as double) as expansion_mrr,
    cast(sum(contraction_mrr) as double) as contraction_mrr,
    cast(sum(churned_mrr) as double) as churned_mrr
from revenue_account_quartiles
group by factor, quartile
order by factor, quartile
