-- grain: one row per churn reason the reasons file lists (folded: lower case, trimmed), with the cause it counts
-- under, and one row with no reason: the cause of any reason not listed (churn_reasons.toml).
-- kind: table
-- made by: settings
create table churn_reason_causes (
    reason_key varchar,
    cause varchar
)
