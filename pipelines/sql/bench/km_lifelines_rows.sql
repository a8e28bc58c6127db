-- grain: one row per account: its survival time, whether it churned and its level of segment column {segment},
-- as lifelines' KaplanMeierFitter takes them.
select duration_days, churned, {segment} as segment
from account_survival
