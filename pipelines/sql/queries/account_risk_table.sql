-- grain: one row per account active at as-of: its churn probability over the horizon, ARR at risk, the two
-- factors that raise its risk most, its current service measures and its segment columns, riskiest first.
-- Slots: {typed_columns} casts each fixed column of result_frame to its type; {segment_columns} lists the
-- build's segment columns, quoted (pipelines/models/risk.py).
-- kind: table
-- made by: models
create or replace table account_risk as
select {typed_columns}{segment_columns}
from result_frame
order by risk_rank
