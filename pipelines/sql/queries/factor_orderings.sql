-- grain: one row per term of each factor of an uncertain pair, per ordering, the structure's own order first.
select *
from factor_orderings
order by pair_first, pair_then, is_structure_used desc, factor, term
