-- grain: one row per service factor term per revenue outcome (expansion, contraction next month).
-- kind: table
-- made by: models
create or replace table factor_revenue_effects (
    factor varchar,
    term varchar,
    label varchar,
    unit varchar,
    outcome varchar,
    monthly_rate double,
    effect_pp double,
    ci_lower_pp double,
    ci_upper_pp double,
    n_account_months bigint,
    n_accounts bigint,
    adjusted_for varchar
)
