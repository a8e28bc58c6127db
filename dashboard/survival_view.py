"""Tables and sentences for the survival explorer, built from a fitted KaplanMeier (pure functions)."""

from __future__ import annotations

import math

import pandas as pd

from dashboard.charts import percent
from dashboard.labels import CAUSE_ADVERBS, cause_label, cause_short_label, segment_label
from pipelines.churn_reasons import UNKNOWN
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


# --- churn by cause ---------------------------------------------------------------------------------

CAUSE_VIEW = "churn by cause"
# The sentence reads the shares at the first of these days that the data has followed the accounts to: a year
# reads best, a younger book has less.
SENTENCE_HORIZONS_DAYS = (365, 180, 90)
NO_REASONS_SENTENCE = ("This data has no churn reasons: add a churn_reason column to the accounts file to split "
                       "churn by cause; see docs/data-contract.md.")
NO_REASONS_IN_SELECTION_SENTENCE = ("None of the churned accounts in this selection has a churn reason, so churn "
                                    "cannot be split by cause here; churn reasons come from a churn_reason column in "
                                    "the accounts file (see docs/data-contract.md).")
# The causes named by their own adjective in running text ("voluntary churn"); an analyst's cause is quoted
NAMED_CAUSES = ("voluntary", "involuntary")


def no_reasons_sentence(filtered: bool) -> str:
    """What the view says instead of a chart when no churned account has a reason: the data has none, or (with
    filters, a scope among them) this selection has none."""
    return NO_REASONS_IN_SELECTION_SENTENCE if filtered else NO_REASONS_SENTENCE


def cause_labels(causes) -> dict[str, str]:
    """Each cause's words, for the chart's legend and hover."""
    return {str(cause): cause_label(str(cause)) for cause in causes.causes_}


def largest_cause_groups(causes, n: int = MAX_CURVES) -> list[str]:
    """The n groups with the most accounts, largest first."""
    sizes = causes.group_summary_.sort_values("n_accounts", ascending=False, kind="stable")
    return sizes.group.head(n).astype(str).tolist()


def cause_curves(causes, groups: list[str]) -> pd.DataFrame:
    """The cumulative incidence curves of the shown groups, in the model's group order."""
    return causes.incidence_[causes.incidence_.group.astype(str).isin(groups)]


def _share_interval(estimate: float, lower: float, upper: float, digits: int | None = None) -> str:
    """12% (10–14%); below 10% one decimal, so a small cause still reads: 6.2% (5.1–7.4%). A table gives `digits`,
    so its column reads alike in every row."""
    if digits is None:
        digits = 0 if estimate >= 0.1 else 1
    return f"{estimate * 100:.{digits}f}% ({lower * 100:.{digits}f}–{upper * 100:.{digits}f}%)"


def _cause_phrase(cause) -> str:
    """How a share of accounts "had churned ..." reads: "voluntarily", "with no reason given", "as “downgrade to
    free”"."""
    return CAUSE_ADVERBS.get(str(cause)) or f"as “{cause_short_label(str(cause))}”"


def _cause_noun(cause) -> str:
    """The churn of a cause as a noun: "voluntary churn", "churn with no reason given", "churn as “...”"."""
    if str(cause) in NAMED_CAUSES:
        return f"{cause_short_label(str(cause))} churn"
    return f"churn {_cause_phrase(cause)}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def cause_sentence(causes, groups: list[str] | None = None) -> str | None:
    """What the chart says, in one sentence with its numbers: each cause's share by a year (or the longest of 180
    and 90 days the data reaches) for one group; for several, where the largest cause's share was highest and
    lowest. None when no group is followed even 90 days."""
    shown = [g for g in causes.groups_ if groups is None or str(g) in groups]
    summary = causes.summary_[causes.summary_.group.isin(shown)]
    for horizon in SENTENCE_HORIZONS_DAYS:
        at = summary[(summary.horizon_days == horizon) & summary.cumulative_incidence.notna()]
        known = list(dict.fromkeys(at.group))
        if len(shown) == 1 and known:
            return _one_group_sentence(causes, at, horizon, shown[0])
        if len(known) >= 2:
            return _groups_sentence(causes, at, horizon)
    return None


def _one_group_sentence(causes, at: pd.DataFrame, horizon: int, group) -> str:
    shares = [(_share_interval(r.cumulative_incidence, r.ci_lower, r.ci_upper), _cause_phrase(r.cause))
              for r in at.itertuples()]
    who = "accounts" if causes.by is None else f"{segment_label(causes.by)} {group} accounts"
    parts = [f"{shares[0][0]} of {who} had churned {shares[0][1]}",
             *(f"{share} {phrase}" for share, phrase in shares[1:])]
    still = causes.still_customer_
    survival = still[(still.group == group) & (still.horizon_days == horizon)].survival.iloc[0]
    return (f"By day {horizon:,}, {_join(parts)}; the causes and the share still a customer "
            f"({percent(survival, 0)}) add up to 100%.")


def _groups_sentence(causes, at: pd.DataFrame, horizon: int) -> str:
    """Where the cause with the most churned accounts (a named one before "unknown") was highest and lowest."""
    counts = causes.counts_[causes.counts_.group.isin(at.group)].groupby("cause", sort=False).n_churned.sum()
    named = counts.drop(UNKNOWN, errors="ignore")
    cause = (named if named.sum() > 0 else counts).idxmax()
    rows = at[at.cause == cause].sort_values("cumulative_incidence", ascending=False, kind="stable")
    high, low = rows.iloc[0], rows.iloc[-1]
    segment = segment_label(causes.by)
    return (f"By day {horizon:,}, {_cause_noun(cause)} was highest for {segment} {high.group}, at "
            f"{_share_interval(high.cumulative_incidence, high.ci_lower, high.ci_upper)} of accounts, and lowest for "
            f"{segment} {low.group}, at {_share_interval(low.cumulative_incidence, low.ci_lower, low.ci_upper)}; in "
            "each panel the causes and the share still a customer add up to 100%.")


def cause_table(causes) -> pd.DataFrame:
    """One row per group and cause, then one for those still a customer: the accounts churned from the cause (or
    still a customer) at as-of, and the share of accounts by each horizon with its 95% interval (a group's causes and
    its still-customer share add up to 100%)."""
    summary = causes.summary_.set_index(["group", "cause", "horizon_days"])
    still = causes.still_customer_.set_index(["group", "horizon_days"]).survival
    grouped = causes.by is not None
    rows = []
    for group in causes.group_summary_.itertuples():
        for cause in causes.causes_:
            row = {"group": group.group} if grouped else {}
            row["cause"] = cause_label(str(cause))
            row["accounts by as-of (churned from it, or still a customer)"] = f"{int(summary.loc[(group.group, cause, causes.horizons_days[0])].n_churned):,}"
            for h in causes.horizons_days:
                s = summary.loc[(group.group, cause, h)]
                row[f"share by day {h:,} (95% CI)"] = (
                    "—" if pd.isna(s.cumulative_incidence)
                    else _share_interval(s.cumulative_incidence, s.ci_lower, s.ci_upper, digits=1))
            rows.append(row)
        row = {"group": group.group} if grouped else {}
        row["cause"] = "Still a customer"
        row["accounts by as-of (churned from it, or still a customer)"] = f"{group.n_accounts - group.n_churned:,}"
        for h in causes.horizons_days:
            row[f"share by day {h:,} (95% CI)"] = percent(still.loc[(group.group, h)])
        rows.append(row)
    return pd.DataFrame(rows)
