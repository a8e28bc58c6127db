-- grain: one row per service factor term per step of its adjustment set (unadjusted, + plan and segments,
-- + case mix and volume, + upstream service factors).
-- kind: table
-- made by: models
create or replace table factor_stability (
    factor varchar,
    step varchar,
    term varchar,
    hazard_ratio double,
    ci_lower double,
    ci_upper double,
    note varchar
)
