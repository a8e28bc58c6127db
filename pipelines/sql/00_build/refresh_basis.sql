-- grain: one row: what an incremental refresh must find unchanged to reuse this build: the SHA-256 of the plan's
-- SQL, the engine that built it, and whether the input digests were taken (a build from inputs only Spark read
-- has none).
-- kind: table
-- made by: build
create table refresh_basis (
    plan_sha256 varchar,
    engine varchar,
    has_input_digests boolean
)
