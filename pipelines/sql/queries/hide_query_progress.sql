-- grain: a session setting: DuckDB draws no progress bar for the connection's long queries. It draws one on standard
-- output whether or not that is a terminal, so a build logged to a file (a scheduled refresh) would fill its log with
-- the bar's frames: the build hides it when its output is not a terminal. (Cursors draw none.)
set enable_progress_bar = false
