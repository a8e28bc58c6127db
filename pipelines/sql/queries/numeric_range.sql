-- grain: one row: the smallest and largest value of one numeric column ({column}, an allow-listed quoted column)
-- among the selected accounts (analysis_accounts: every account, or the app's scoped subset), and whether every
-- value is a whole number (the sidebar then steps by one); NULLs when no selected account has a value.
select
    cast(min({column}) as double) as min_value,
    cast(max({column}) as double) as max_value,
    coalesce(bool_and({column} = floor({column})), true) as is_whole_number
from account_survival
where account_id in (select account_id from analysis_accounts)
