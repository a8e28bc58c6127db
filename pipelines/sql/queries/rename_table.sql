-- grain: one statement: table {table} renamed {new_name}.
alter table {table} rename to {new_name}
