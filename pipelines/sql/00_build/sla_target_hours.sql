-- grain: one row per severity: the first-response target, in hours, that an SLA breach is measured against.
-- kind: table
-- made by: settings
create table sla_target_hours (
    severity varchar,
    target_hours double
)
