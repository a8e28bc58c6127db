-- grain: one row per stored model, horizon and decile of predicted churn on the time-split holdout (decile null:
-- all the accounts active at the cutoff): predicted churn against what happened by as-of, the count's range
-- from chance alone, the observed rate's Wilson interval, and the overall row's concordance.
-- kind: table
-- made by: models
create or replace table model_calibration (
    model varchar,
    horizon_days integer,
    cutoff date,
    decile integer,
    n_accounts bigint,
    n_churned bigint,
    predicted_churned double,
    predicted_lower double,
    predicted_upper double,
    within_range boolean,
    predicted_mean double,
    predicted_min double,
    predicted_max double,
    observed_rate double,
    observed_ci_lower double,
    observed_ci_upper double,
    concordance double
)
