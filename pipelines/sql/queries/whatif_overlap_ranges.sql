-- grain: one row per case-mix cell (bands of the high-priority share and of the live-channel share, NULL its
-- own band): the 1st and 99th percentiles of one panel measure ({measure}, an allow-listed quoted column)
-- over the account-months where it is known. A changed value outside its cell's range is one the data never
-- showed for that case mix, so the model extrapolates there. The bands end at $low_band_edge and
-- $high_band_edge (whatif.OVERLAP_BAND_EDGES, which also bands the accounts).
with panel as (
    select
        {measure} as measure,
        case when high_priority_share_90d is null then -1
            when high_priority_share_90d < $low_band_edge then 0
            when high_priority_share_90d < $high_band_edge then 1
            else 2 end as high_priority_band,
        case when live_channel_share_90d is null then -1
            when live_channel_share_90d < $low_band_edge then 0
            when live_channel_share_90d < $high_band_edge then 1
            else 2 end as live_channel_band
    from account_months
    where {measure} is not null
)

select
    cast(high_priority_band as integer) as high_priority_band,
    cast(live_channel_band as integer) as live_channel_band,
    cast(count(*) as bigint) as n_account_months,
    cast(quantile_cont(measure, 0.01) as double) as measure_p01,
    cast(quantile_cont(measure, 0.99) as double) as measure_p99
from panel
group by all
