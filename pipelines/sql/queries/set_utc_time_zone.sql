-- grain: a session setting: naive timestamps mean UTC, and offsets convert to UTC, whatever the machine's zone.
set TimeZone = 'UTC'
