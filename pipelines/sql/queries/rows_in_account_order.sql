-- grain: the rows of {query} (a project query file), in account_id order.
select * from ({query}) as query_rows order by account_id
