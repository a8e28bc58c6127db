-- grain: one row per model the build fitted (or tried to): its information as JSON (method, sample, notes, or
-- the reason it could not be fitted), for the pages and the commands to show beside its results.
-- kind: table
-- made by: models
create table if not exists model_info (
    model varchar,
    info_json varchar
)
