-- grain: one row per data row of the CSV file $path, in file order, every column text: the columns $columns that
-- its header names. No sniffing: DuckDB's sniffer otherwise skips leading lines to make a ragged row the header,
-- and treats rows starting with '#' as comments; both drop data without a word (comment = '' guards the second
-- either way). strict_mode and no null padding make a row with too many or too few fields an error, not a guess.
select *
from read_csv(
    $path, delim = $delim, header = true, auto_detect = false, columns = $columns, quote = '"', escape = '"',
    comment = '', encoding = $encoding, strict_mode = true, null_padding = false
)
