"""Tables and sentences for the survival explorer, built from a fitted KaplanMeier (pure functions)."""

from __future__ import annotations

import math

import pandas as pd

from dashboard.charts import percent
from pipelines.filters import filterable_columns


# a chart of more curves than this is unreadable: it shows the largest groups and lets the reader pick others
MAX_CURVES = 8


def grouping_options(con) -> list[str]:
    return list(filterable_columns(con))


def largest_groups(km, n: int = MAX_CURVES) -> list[str]:
    """The n groups with the most accounts, largest first."""
    return km.summary_.sort_values("n_accounts", ascending=False, kind="stable").group.head(n).astype(str).tolist()


def _days(value) -> str:
    # lifelines gives an infinite median (or bound) when the curve never falls to one half
    return "not reached" if pd.isna(value) or math.isinf(value) else f"{value:,.0f}"


def summary_table(km) -> pd.DataFrame:
    """One row per group: accounts, churned, median lifetime with CI, 1-year survival with CI, RMST 1y."""
    s = km.summary_
    rmst = km.rmst_[km.rmst_.tau_days == 365].set_index("group") if not km.rmst_.empty else pd.DataFrame()
    rows = []
    for r in s.itertuples():
        rm = rmst.loc[r.group] if r.group in rmst.index else None
        rows.append({
            "group": r.group,
            "accounts": f"{r.n_accounts:,}",
            "churned": f"{r.n_churned:,}",
            "median lifetime (days)": _days(r.median_survival_days),
            "median 95% CI": f"{_days(r.median_ci_lower_days)} – {_days(r.median_ci_upper_days)}",
            "still a customer at 1 year": percent(r.survival_365d),
            "1-year 95% CI": f"{percent(r.survival_365d_ci_lower)} – {percent(r.survival_365d_ci_upper)}",
            "MRR retained at 1 year": percent(r.revenue_retained_share_365d),
            "average days a customer in the first year": "—" if rm is None or pd.isna(rm.rmst_days) else
            f"{rm.rmst_days:.0f} ({rm.ci_lower_days:.0f}–{rm.ci_upper_days:.0f})",
        })
    return pd.DataFrame(rows)


def logrank_sentence(km) -> str | None:
    test = km.logrank_
    if not test:
        return None
    p = test["p_value"]
    p_text = "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}"
    verdict = "the curves differ by more than chance would explain" if p < 0.05 else \
        "the differences are within what chance alone would give"
    return (f"**Log-rank test** across {test['n_groups']} groups: χ² = {test['test_statistic']:.1f} on "
            f"{test['degrees_of_freedom']} degrees of freedom, {p_text}: {verdict}.")
