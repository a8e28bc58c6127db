-- grain: one row per demo account (t: the drawn accounts, registered as an Arrow table), in the layout of an
-- accounts export: ids A000001..., dates, MRR in currency units, and the segment columns.
select
    'A' || lpad(cast(n as varchar), $width, '0') as account_id,
    cast(signup_date as date) as signup_date,
    cast(churn_date as date) as churn_date,
    cast(mrr as decimal(14, 2)) as mrr,
    cast(plan as varchar) as plan,
    cast(region as varchar) as region,
    cast(industry as varchar) as industry,
    cast(company_size as varchar) as company_size,
    cast(csm as varchar) as csm,
    -- churn_reason, which only the demo with planted churn causes draws (free text, as a billing tool writes it):
    -- every column of t not named above, so without it the file keeps the columns it always had
    cast(columns(* exclude (n, signup_date, churn_date, mrr, plan, region, industry, company_size, csm)) as varchar)
from t
order by n
