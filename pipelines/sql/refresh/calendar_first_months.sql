-- The first month of this build's calendar (from the staged accounts, as calendar_months makes it) and of the
-- previous build's: every panel row's month_index counts from it.
select
    (select cast(date_trunc('month', min(signup_date)) as date) from stg_accounts),
    (select min(month_start) from previous_calendar_months)
