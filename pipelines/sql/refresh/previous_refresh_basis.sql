-- The previous build's plan digest, engine, and whether it stored its input digests.
select plan_sha256, engine, has_input_digests from refresh_basis
