-- grain: drops {object} ('table' or 'view') {target} if it exists.
drop {object} if exists {target}
