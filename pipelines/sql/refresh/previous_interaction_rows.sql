-- How many interaction rows the previous build read (its digests count every row, one account at a time).
select coalesce(sum(n_rows), 0) from previous_input_digests where source = 'interactions'
