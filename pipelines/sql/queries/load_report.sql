-- One row per input source: rows read, loaded, dropped, values emptied, rows after the as-of date.
select * from load_report
