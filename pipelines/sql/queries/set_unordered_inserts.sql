-- grain: a session setting: tables keep no insertion order (later stages need none, and it saves memory).
set preserve_insertion_order = false
