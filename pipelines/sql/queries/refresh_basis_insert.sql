-- grain: the one row of refresh_basis, from the values the build gathered.
insert into refresh_basis values ($plan_sha256, $engine, $has_input_digests, $settled_before)
