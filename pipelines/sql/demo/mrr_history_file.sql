-- grain: one row per demo account and month (t: the drawn MRR history, registered as an Arrow table): the
-- account's id, the month and its MRR.
select
    'A' || lpad(cast(account as varchar), $width, '0') as account_id,
    cast(month as date) as month,
    cast(mrr as decimal(14, 2)) as mrr
from t
