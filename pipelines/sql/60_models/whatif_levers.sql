-- grain: one row per service factor a what-if can change: its standard change (the lever) run as a what-if over
-- every active account for a year, with the 95% intervals of accounts and ARR kept, the factor's typical value
-- today and with the change, and what the estimate was adjusted for; most ARR kept first.
-- kind: table
-- made by: models
create or replace table whatif_levers (
    factor varchar,
    change varchar,
    words varchar,
    typical varchar,
    typical_today double,
    typical_with_change double,
    accounts bigint,
    accounts_kept double,
    accounts_kept_lower double,
    accounts_kept_upper double,
    arr_kept double,
    arr_kept_lower double,
    arr_kept_upper double,
    horizon_days integer,
    adjusted_for varchar
)
