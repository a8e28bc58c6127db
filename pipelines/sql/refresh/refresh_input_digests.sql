-- The digests of the inputs as read now, counted as the previous build counted its own (its $settled_before, its
-- first $interaction_rows interactions): what refresh_changed_accounts compares, and, when the month boundary has
-- not moved, what this build's input_digests adds the appended interactions to instead of reading every row again.
select * from ({input_digest_rows})
