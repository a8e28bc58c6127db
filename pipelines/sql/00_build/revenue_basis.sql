-- grain: one row: where revenue comes from, 'mrr_history' (a monthly MRR file was given) or 'flat_mrr' (each
-- account's MRR on the accounts file, held flat over its life).
-- kind: table
-- made by: settings
create table revenue_basis (
    revenue_basis varchar
)
