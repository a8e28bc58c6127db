-- grain: one row per decile of predicted churn risk on the time-split holdout: predicted against observed, with
-- the observed rate's Wilson interval.
create or replace table risk_calibration (
    decile integer,
    n_accounts bigint,
    n_churned bigint,
    predicted_mean double,
    predicted_min double,
    predicted_max double,
    observed_rate double,
    observed_ci_lower double,
    observed_ci_upper double
)
