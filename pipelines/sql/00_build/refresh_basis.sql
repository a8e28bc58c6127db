-- grain: one row: what an incremental refresh must find unchanged to reuse this build: the SHA-256 of the plan's
-- SQL, the engine that built it, whether the input digests were taken (a build from inputs only Spark read has
-- none), and the first day whose interactions they count by month (settled_before).
-- kind: table
-- made by: build
create table refresh_basis (
    plan_sha256 varchar,
    engine varchar,
    has_input_digests boolean,
    settled_before date
)
