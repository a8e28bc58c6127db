-- grain: one row per term of each service factor's own model (the factor's terms only), with its adjustment set,
-- its cluster-robust 95% interval and its E-values.
-- kind: table
-- made by: models
create or replace table factor_effects (
    factor varchar,
    term varchar,
    label varchar,
    unit varchar,
    coef double,
    robust_se double,
    hazard_ratio double,
    ci_lower double,
    ci_upper double,
    p_value double,
    adjusted_for varchar,
    not_adjusted_for varchar,
    e_value double,
    e_value_ci double,
    n_accounts bigint,
    n_events bigint
)
