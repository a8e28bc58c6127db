-- grain: one row per term of each factor of a pair whose order is uncertain, per ordering of the pair: its own
-- model's hazard ratio when the pair is ordered as the build's causal structure says and when it is reversed.
-- kind: table
-- made by: models
create or replace table factor_orderings (
    pair_first varchar,
    pair_then varchar,
    why varchar,
    ordering varchar,
    is_structure_used boolean,
    factor varchar,
    term varchar,
    label varchar,
    unit varchar,
    hazard_ratio double,
    ci_lower double,
    ci_upper double,
    e_value_ci double,
    adjusted_for varchar
)
