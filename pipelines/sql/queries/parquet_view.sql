-- grain: view {view} over the Parquet files matched by {path} (a table another engine wrote): its rows, read
-- where they lie on every query. A view's definition takes no parameter, so the path is a quoted constant.
create or replace view {view} as
select * from read_parquet({path})
