-- grain: one row per month ahead of as-of per forecast measure (active, churned, existing base's and new business's
-- accounts; MRR, ARR and the existing base's revenue retention when the build has MRR): the estimate and its 80% and
-- 95% intervals from the build's forecast of every account (pipelines/models/forecast.py). Empty when the build
-- fitted no models.
-- kind: table
-- made by: models
create or replace table forecast_series (
    month_number integer,
    month varchar,
    month_end date,
    measure varchar,
    estimate double,
    lower_80 double,
    upper_80 double,
    lower_95 double,
    upper_95 double
)
