-- grain: one row: the schema version the build recorded (pipelines/schema.py says what it means).
select schema_version
from build_info
