-- grain: one row per account: whether a change's step reached it ({treated}: a bound filter predicate over
-- account_survival's columns) and the account's value of the column that names its group ({unit}: a quoted
-- account_survival column, or a constant when the design compares no groups).
select
    account_id,
    coalesce(({treated}), false) as is_reached,
    cast({unit} as varchar) as unit
from account_survival
