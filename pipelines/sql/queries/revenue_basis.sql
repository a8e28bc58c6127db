-- grain: one row: where the build's monthly MRR came from ('mrr_history' or 'flat_mrr', as in build_info.revenue_basis)
select cast(revenue_basis as varchar) as revenue_basis from revenue_basis
