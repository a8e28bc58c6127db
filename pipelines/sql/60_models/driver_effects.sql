-- grain: one row per term of the mutually adjusted drivers model (every factor in one Cox model).
-- kind: table
-- made by: models
create or replace table driver_effects (
    term varchar,
    factor varchar,
    level varchar,
    pillar varchar,
    unit varchar,
    coef double,
    se double,
    hazard_ratio double,
    ci_lower double,
    ci_upper double,
    p_value double,
    ph_test_statistic double,
    ph_p_value double,
    ph_violated boolean
)
