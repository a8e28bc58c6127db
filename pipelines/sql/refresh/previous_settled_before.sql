-- The first day whose interactions the previous build's digests count by month.
select settled_before from refresh_basis
