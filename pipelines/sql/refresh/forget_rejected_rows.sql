-- The previous build's rejected rows but those of the accounts and MRR files (made whole again) and of the
-- interactions recomputed.
delete from previous_rejected_rows
where source <> 'interactions' or row_number in (select _row from refresh_rows)
