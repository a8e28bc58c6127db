"""Cumulative incidence of each churn cause (Aalen–Johansen), overall or by segment, with R cmprsk's variance.

Owns `CumulativeIncidence` (the estimator, on arrays) and `CauseIncidence` (the same on a built database's
`account_survival`, with `retention km`'s filters and groups: `retention km --by-cause` and the survival explorer's
churn by cause). With causes as competing risks (an account that churned involuntarily can no longer
churn voluntarily), the chance of having churned from cause k by day t is the cumulative incidence F_k(t), not
1 - KM of cause k with the other causes censored (that curve answers a world without the other causes, and the
causes' curves would then add up to more than the churn that happened).

Estimates, at each distinct time t_j with an event of any cause (plus a time-0 row), n_j accounts at risk
(those whose time is >= t_j), d_jk churned from cause k at t_j and d_j = sum_k d_jk:

    S(t_j)   = S(t_{j-1}) (1 - d_j / n_j)                     overall Kaplan–Meier survival, S(0-) = 1
    F_k(t_j) = F_k(t_{j-1}) + S(t_{j-1}) d_jk / n_j            cumulative incidence of cause k, F_k(0-) = 0

so sum_k F_k(t) + S(t) = 1 at every t (each step moves S(t_{j-1}) d_j / n_j from S to the causes). Tied times
are exact: the d_jk events at t_j enter together, and accounts censored at t_j count as at risk at t_j (the
convention of lifelines, survival.py and cmprsk). Breaking ties by jittering, as lifelines' AalenJohansenFitter
does, is not needed, and it is harmful when an event is pushed past an account censored at the same time (that
account then leaves the risk set too early).

Variance: the delta-method (Aalen/Gray) variance exactly as R's `cmprsk::cuminc` computes it in its Fortran
routine `cinc`, so the numbers users compare against R's `print(cuminc(...))` or `timepoints()` agree. With
S_j = S(t_j), F_j = F_k(t_j), o = d_j - d_jk (the other causes lumped together), and the tie factor
c(x) = (n_j - x) / (n_j - 1) for x > 1, c(x) = 1 for x <= 1, each event time contributes

    w_jk = S_{j-1}^2 c(d_jk) d_jk / n_j^2   with (a, b) = (1 + F_j / S_j, 1 / S_j)
    w_jo = S_{j-1}^2 c(o)    o    / n_j^2   with (a, b) = (F_j / S_j,     1 / S_j)   (dropped where S_j = 0)

(1 / S_j read as 0 where S_j = 0), and Var F_k(t) = sum_{t_j <= t} w_j (a_j - F_k(t) b_j)^2, computed as cinc
does through the running sums of w a^2, w a b and w b^2. Like cinc, the variance is updated only at the times of
cause k and held in between (where it is mathematically unchanged). It differs from scikit-survival's
"Aalen" variance only at times where cause k and another cause both have events (cinc counts cause k and the
others separately, d_jk (n_j - d_jk) + o (n_j - o), scikit-survival the total, d_j (n_j - d_j)) and at a last
event with one account at risk (cinc counts it, scikit-survival drops it); tests/test_competing_risks.py shows both
agreements and the first difference.

Interval: pointwise, on the log(-log F) scale, F^{exp(±z sqrt(Var) / (F log F))}, z the normal quantile for
`level`. cuminc reports variances only; this transform is the one scikit-survival's
`cumulative_incidence_competing_risks(conf_type="log-log")` and lifelines' AalenJohansenFitter use, it matches
the log(-log) bands of our Kaplan–Meier curves, and unlike F ± z sqrt(Var) it can never leave [0, 1]. Where F
is 0 (no churn from the cause yet, variance 0) or 1 (every account of the group churned from this one cause, where
log(-log F) is undefined) the interval is the point, as scikit-survival gives; so it is where the variance is 0.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from datetime import date

import duckdb
import numpy as np
import pandas as pd
from scipy import special

from ..churn_reasons import UNKNOWN
from ..errors import RetentionError
from ..settings import KM_MAX_GROUPS
from .jsonable import json_ready
from .survival import HORIZONS_DAYS, read_event_counts

OVERALL_LABEL = "all"
MISSING_GROUP_LABEL = "(missing)"

INCIDENCE_COLUMNS = [
    "group", "cause", "time_days", "cumulative_incidence", "variance", "ci_lower", "ci_upper", "at_risk", "events",
]
SURVIVAL_COLUMNS = ["group", "time_days", "survival", "at_risk", "events"]
SUMMARY_COLUMNS = ["group", "cause", "horizon_days", "cumulative_incidence", "ci_lower", "ci_upper", "n_churned"]
# The causes every reasons file can give, listed first in this order; an analyst's own causes follow by name, and
# "unknown" (a churn with no reason) comes last, as what is left over.
CAUSE_ORDER = ("voluntary", "involuntary")


class CompetingRisksInputError(RetentionError, ValueError):
    """The durations, causes or groups cannot be used as given; the message names the argument and the rows."""


class NoChurnReasonsError(CompetingRisksInputError):
    """Every churned account counts under "unknown": the data gives no churn reasons, so there is nothing to split
    churn by (one curve called "unknown" would only repeat 1 - survival)."""

    def __init__(self, n_churned: int, filtered: bool):
        self.n_churned = n_churned
        self.filtered = filtered
        # a selection's churns may all lack a reason in a build that has others: then a new column is no advice
        advice = ("churn reasons come from a churn_reason column of the accounts file" if filtered else
                  "add a churn_reason column to the accounts file and rebuild")
        which = "matching the filters " if filtered else ""
        super().__init__(
            f"none of the {n_churned:,} churned accounts {which}has a churn reason (every churn counts as "
            f"{UNKNOWN!r}), so churn cannot be split by cause; {advice} (see docs/data-contract.md)"
        )


class CumulativeIncidence:
    """Aalen–Johansen cumulative incidence per cause, overall or per group, with cmprsk's variance.

    Parameters
    ----------
    level: the coverage of the pointwise intervals (0.95 gives 95% intervals).
    causes: the cause labels in the order the results list them. Every cause in the data must be in it; a
        listed cause with no events gets an all-zero curve (so segments plot the same causes in the same
        order). Default: the causes seen in the order of a categorical's categories, else sorted (numerically
        when all are numbers, else by their text). Groups are ordered the same way.

    After `fit(durations, causes, groups=None)`:
    incidence_: one row per group x cause x time (the group's distinct event times of any cause, plus 0),
        with columns INCIDENCE_COLUMNS: cumulative_incidence, its variance, ci_lower/ci_upper, at_risk (the
        group's accounts with time >= time_days) and events (of that cause at that time).
    survival_: one row per group x time, the overall Kaplan–Meier survival (all causes as churn) at the same
        times: survival, at_risk, events (all causes).
    causes_, groups_: the cause and group labels in result order.
    """

    def __init__(self, level: float = 0.95, causes: Sequence | None = None):
        if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < float(level) < 1:
            raise CompetingRisksInputError(f"level must be a number between 0 and 1 (e.g. 0.95), not {level!r}")
        self.level: float = float(level)
        self.causes: list | None = None if causes is None else list(causes)
        if self.causes is not None:
            censored = [c for c in self.causes if _is_censored(c)]
            if censored:
                raise CompetingRisksInputError(
                    f"causes lists {censored[0]!r}, which marks a censored account; list only churn causes"
                )
            if any(_is_blank(c) for c in self.causes):
                raise CompetingRisksInputError(f"causes lists an empty label: {self.causes!r}")
            if len(set(self.causes)) != len(self.causes):
                raise CompetingRisksInputError(f"causes lists a cause twice: {self.causes!r}")

    def fit(self, durations, causes, groups=None) -> CumulativeIncidence:
        """Estimate the curves.

        durations: days from start to churn or censoring, numbers >= 0. The three arguments are matched by
            position (a Series' index is not aligned), one entry per account.
        causes: per account, the churn cause label (e.g. "voluntary", "involuntary", or any other name), or
            0 / None / NaN for an account that has not churned (censored at its duration).
        groups: optional segment label per account; one set of curves per group. Missing labels form the
            group "(missing)", listed last. Without groups there is one group, "all".
        """
        times = _durations_array(durations)
        n = len(times)
        cause_values = _as_series(causes, "causes")
        if len(cause_values) != n:
            raise CompetingRisksInputError(
                f"{_name(causes, 'causes')} has {len(cause_values)} values but durations has {n}; "
                "give one cause (or None for censored) per account"
            )
        censored = _censored_mask(cause_values)
        blank = ~censored & _blank_mask(cause_values)
        if blank.any():
            raise CompetingRisksInputError(
                f"{_name(causes, 'causes')} has {int(blank.sum())} empty cause label(s), first at "
                f"{_first(cause_values, blank)}; use None or 0 for an account that has not churned"
            )
        seen = _ordered_labels(cause_values[~censored])
        if self.causes is None:
            cause_labels = seen
        else:
            listed = set(self.causes)
            unknown = [c for c in seen if c not in listed]
            if unknown:
                raise CompetingRisksInputError(
                    f"{_name(causes, 'causes')} has cause(s) {unknown!r} not in the causes given to "
                    f"CumulativeIncidence ({self.causes!r}); add them or map them to a listed cause"
                )
            cause_labels = list(self.causes)
        cause_code = {label: k + 1 for k, label in enumerate(cause_labels)}
        # 0 is censored; 1..K index the causes in result order
        codes = np.zeros(n, dtype=np.int64)
        codes[~censored] = cause_values[~censored].map(cause_code).to_numpy(dtype=np.int64)

        if groups is None:
            group_labels = [OVERALL_LABEL]
            group_codes = np.zeros(n, dtype=np.int64)
        else:
            group_values = _as_series(groups, "groups")
            if len(group_values) != n:
                raise CompetingRisksInputError(
                    f"{_name(groups, 'groups')} has {len(group_values)} values but durations has {n}; "
                    "give one group label per account"
                )
            missing = group_values.isna().to_numpy(dtype=bool)
            group_labels = _ordered_labels(group_values[~missing])
            if missing.any() and MISSING_GROUP_LABEL not in group_labels:
                group_labels.append(MISSING_GROUP_LABEL)
            group_code = {label: g for g, label in enumerate(group_labels)}
            group_codes = np.full(n, group_code.get(MISSING_GROUP_LABEL, -1), dtype=np.int64)
            group_codes[~missing] = group_values[~missing].map(group_code).to_numpy(dtype=np.int64)

        z = float(special.ndtri(1 - (1 - self.level) / 2))
        incidence_parts, survival_parts = [], []
        for g, group_label in enumerate(group_labels):
            in_group = group_codes == g
            curves = _aalen_johansen(times[in_group], codes[in_group], len(cause_labels), z)
            n_times = len(curves["time"])
            survival_parts.append(pd.DataFrame({
                "group": [group_label] * n_times,
                "time_days": curves["time"],
                "survival": curves["survival"],
                "at_risk": curves["at_risk"],
                "events": curves["events"],
            }))
            for k, cause_label in enumerate(cause_labels):
                incidence_parts.append(pd.DataFrame({
                    "group": [group_label] * n_times,
                    "cause": [cause_label] * n_times,
                    "time_days": curves["time"],
                    "cumulative_incidence": curves["incidence"][k],
                    "variance": curves["variance"][k],
                    "ci_lower": curves["ci_lower"][k],
                    "ci_upper": curves["ci_upper"][k],
                    "at_risk": curves["at_risk"],
                    "events": curves["cause_events"][k],
                }))

        time_dtype = times.dtype
        self.incidence_ = _concat(incidence_parts, INCIDENCE_COLUMNS, time_dtype)
        self.survival_ = _concat(survival_parts, SURVIVAL_COLUMNS, time_dtype)
        self.causes_ = cause_labels
        self.groups_ = group_labels
        return self


class CauseIncidence:
    """Cumulative incidence of each churn cause among a built database's accounts, overall or per level of one
    column, with optional filters: `CumulativeIncidence` on `account_survival`.

    Time is `duration_days` (days since signup); an account still a customer at the as-of date is censored there,
    and a churned one counts under its `churn_cause`. `by` and `filters` take what `retention km` takes, and the
    accounts are grouped exactly as KaplanMeier groups them (survival.account_grouping): groups in the order of
    their values, "(missing)" last. Causes are listed voluntary, involuntary, the analyst's own by name, unknown.

    `fit(con)` raises NoChurnReasonsError when no churned account has a cause other than "unknown" (a build without
    churn reasons), and CompetingRisksInputError when no account has churned at all.

    Learned attributes: incidence_ and survival_ (CumulativeIncidence's curves), causes_, groups_; counts_ (group,
    cause, n_churned: churned accounts per cause); summary_ (SUMMARY_COLUMNS: each cause's cumulative incidence at
    each horizon with its interval, NaN past the group's last observed day); still_customer_ (group, horizon_days,
    survival); group_summary_ (group, n_accounts, n_churned, last_observed_days); as_of_, n_accounts_, filters_,
    grouping_.
    """

    def __init__(self, by: str | None = None, filters: list[str] | tuple[str, ...] | None = None,
                 level: float = 0.95, horizons_days: tuple[int, ...] = HORIZONS_DAYS):
        self.by = by
        self.filters = list(filters or [])
        self.horizons_days = tuple(int(h) for h in horizons_days)
        # checked by the estimator's own constructor, before any query runs
        self.level = CumulativeIncidence(level).level

    def fit(self, con: duckdb.DuckDBPyConnection) -> CauseIncidence:
        """Count the accounts per group, day and cause in DuckDB (read only) and estimate the curves from them."""
        read = read_event_counts(con, self.by, self.filters, "cause_event_counts", CompetingRisksInputError,
                                 params={"unknown_cause": UNKNOWN}, as_frame=True)
        counts, filters, grouping, as_of = read.counts, read.filters, read.grouping, read.as_of
        churned = counts["churn_cause"].notna().to_numpy()
        n_churned = int(counts["n_accounts"].to_numpy()[churned].sum())
        if n_churned == 0:
            which = " matching the filters" if filters else ""
            raise CompetingRisksInputError(
                f"no account{which} has churned by the as-of date {as_of}; there is no churn to split by cause"
            )
        seen = set(counts["churn_cause"][churned])
        if seen <= {UNKNOWN}:
            raise NoChurnReasonsError(n_churned, filtered=bool(filters))

        group_labels, row_labels = _group_labels(counts["group_value"], grouping.label)
        if len(group_labels) > KM_MAX_GROUPS:
            raise CompetingRisksInputError(
                f"--by {self.by} gives {len(group_labels)} groups (more than {KM_MAX_GROUPS}); "
                "choose a column with fewer levels or add a --filter"
            )
        # one entry per account, as the estimator takes them: each count row repeated n_accounts times
        repeats = counts["n_accounts"].to_numpy(dtype=np.int64)
        durations = np.repeat(counts["time_days"].to_numpy(dtype=np.int64), repeats)
        causes = np.repeat(counts["churn_cause"].to_numpy(dtype=object), repeats)
        groups = None if self.by is None else pd.Categorical(np.repeat(row_labels, repeats), categories=group_labels)
        model = CumulativeIncidence(self.level, causes=_cause_order(seen)).fit(durations, causes, groups)

        self.incidence_ = model.incidence_
        self.survival_ = model.survival_
        self.causes_ = model.causes_
        self.groups_ = model.groups_
        self.as_of_: date | None = as_of
        self.filters_ = [f.as_dict() for f in filters]
        self.grouping_ = grouping.description
        self.n_accounts_ = int(repeats.sum())
        sizes = pd.DataFrame({"group": row_labels, "n_accounts": repeats, "churned": churned.astype(np.int64) * repeats,
                              "time_days": counts["time_days"].to_numpy(dtype=np.int64)})
        self.group_summary_ = (
            sizes.groupby("group", sort=False)
            .agg(n_accounts=("n_accounts", "sum"), n_churned=("churned", "sum"),
                 last_observed_days=("time_days", "max"))
            .reindex(self.groups_).rename_axis("group").reset_index()
        )
        self.counts_ = (
            self.incidence_.groupby(["group", "cause"], sort=False)["events"].sum()
            .rename("n_churned").reset_index()
        )
        self.summary_, self.still_customer_ = self._at_horizons()
        return self

    def _at_horizons(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Each curve's value at each horizon (the step function's last value at or before it), NaN past the group's
        last observed day: nothing is known there."""
        horizons = np.asarray(self.horizons_days, dtype=np.int64)
        last_day = self.group_summary_.set_index("group")["last_observed_days"]
        churned = self.counts_.set_index(["group", "cause"])["n_churned"]
        parts, kept = [], []
        for group in self.groups_:
            known = horizons <= last_day[group]
            curve = self.survival_[self.survival_["group"] == group]
            at = np.searchsorted(curve["time_days"].to_numpy(), horizons, side="right") - 1
            kept.append(pd.DataFrame({
                "group": group, "horizon_days": horizons,
                "survival": np.where(known, curve["survival"].to_numpy()[at], np.nan),
            }))
            for cause in self.causes_:
                rows = self.incidence_[(self.incidence_["group"] == group) & (self.incidence_["cause"] == cause)]
                at = np.searchsorted(rows["time_days"].to_numpy(), horizons, side="right") - 1
                parts.append(pd.DataFrame({
                    "group": group, "cause": cause, "horizon_days": horizons,
                    **{column: np.where(known, rows[column].to_numpy()[at], np.nan)
                       for column in ("cumulative_incidence", "ci_lower", "ci_upper")},
                    "n_churned": int(churned[(group, cause)]),
                }))
        return (pd.concat(parts, ignore_index=True)[SUMMARY_COLUMNS],
                pd.concat(kept, ignore_index=True)[["group", "horizon_days", "survival"]])

    def notes(self) -> list[str]:
        notes = [
            "Each cause's share is its cumulative incidence (Aalen-Johansen): the share of accounts that churned from "
            "that cause by the day, the other causes competing; the causes and the share still a customer add up to "
            "100%.",
            (f"Accounts still active at the as-of date {self.as_of_} are censored there."
             if self.as_of_ else "Accounts still active at the as-of date are censored there."),
        ]
        if UNKNOWN in self.causes_:
            n_unknown = int(self.counts_.loc[self.counts_["cause"] == UNKNOWN, "n_churned"].sum())
            notes.append(f"{UNKNOWN!r} counts the {n_unknown:,} churned accounts whose row gave no churn reason.")
        if self.by is not None:
            notes.append("Association, not causation: groups can differ in more than the grouping column.")
        if self.summary_["cumulative_incidence"].isna().any():
            notes.append("A share is not given (n/a, null in JSON) past a group's last observed day.")
        return notes

    def to_json_dict(self) -> dict:
        """Everything the model learned, as plain JSON values (NaN becomes null)."""
        return json_ready({
            "model": "cumulative_incidence_by_cause",
            "as_of": self.as_of_,
            "by": self.by,
            "grouping": self.grouping_,
            "filters": self.filters_,
            "n_accounts": self.n_accounts_,
            "confidence_level": self.level,
            "horizons_days": list(self.horizons_days),
            "causes": list(self.causes_),
            "groups": self.group_summary_.to_dict("records"),
            "counts": self.counts_.to_dict("records"),
            "cumulative_incidence": self.summary_.to_dict("records"),
            "still_customer": self.still_customer_.to_dict("records"),
            "incidence_curves": self.incidence_.to_dict("records"),
            "survival_curves": self.survival_.to_dict("records"),
            "notes": self.notes(),
        })


def _cause_order(causes: set) -> list:
    """voluntary, involuntary, the analyst's own causes by name, unknown."""
    own = sorted(c for c in causes if c not in CAUSE_ORDER and c != UNKNOWN)
    return [c for c in CAUSE_ORDER if c in causes] + own + ([UNKNOWN] if UNKNOWN in causes else [])


def _group_labels(values: pd.Series, label) -> tuple[list[str], np.ndarray]:
    """The group labels in KaplanMeier's order (by value, missing last) and each count row's label."""
    missing = values.isna().to_numpy()
    codes = np.full(len(values), -1, dtype=np.int64)
    codes[~missing], uniques = pd.factorize(values[~missing], sort=True)
    labels = [label(value) for value in uniques] + ([label(None)] if missing.any() else [])
    codes[missing] = len(uniques)
    return labels, np.array(labels, dtype=object)[codes]


# --------------------------------------------------------------------------------------------
# The estimator on one group's rows: counts per distinct time by bincount, then cumulative
# products and sums (no loop over times or accounts).
# --------------------------------------------------------------------------------------------


def _aalen_johansen(times: np.ndarray, codes: np.ndarray, n_causes: int, z: float) -> dict[str, np.ndarray]:
    unique_times, index = np.unique(times, return_inverse=True)
    n_unique = len(unique_times)
    removed = np.bincount(index, minlength=n_unique)
    # at risk at t: everyone minus those whose time is strictly before t (reverse cumsum keeps it exact)
    at_risk_all = np.cumsum(removed[::-1])[::-1]
    cause_events_all = np.zeros((n_causes, n_unique), dtype=np.int64)
    for k in range(n_causes):
        cause_events_all[k] = np.bincount(index[codes == k + 1], minlength=n_unique)
    events_all = cause_events_all.sum(axis=0)

    # keep the times with an event; censorings only shrink the risk set, which at_risk already holds
    keep = events_all > 0
    time = unique_times[keep]
    at_risk = at_risk_all[keep]
    events = events_all[keep]
    cause_events = cause_events_all[:, keep]
    if not (len(time) and time[0] == 0):
        # the curves start at 0 with everyone at risk, as lifelines' tables and survival.py do
        time = np.concatenate(([0], time)).astype(unique_times.dtype)
        at_risk = np.concatenate(([len(times)], at_risk))
        events = np.concatenate(([0], events))
        cause_events = np.concatenate((np.zeros((n_causes, 1), dtype=np.int64), cause_events), axis=1)

    n = at_risk.astype(float)
    d = events.astype(float)
    survival = np.cumprod((n - d) / n)
    survival_before = np.concatenate(([1.0], survival[:-1]))
    incidence = np.cumsum(survival_before * cause_events / n, axis=1)

    variance = np.vstack([
        _cinc_variance(n, d, cause_events[k].astype(float), survival_before, survival, incidence[k])
        for k in range(n_causes)
    ]) if n_causes else np.zeros((0, len(time)))
    lower, upper = _log_minus_log_interval(incidence, variance, z)
    return {
        "time": time,
        "at_risk": at_risk.astype(np.int64),
        "events": events.astype(np.int64),
        "cause_events": cause_events,
        "survival": survival,
        "incidence": incidence,
        "variance": variance,
        "ci_lower": lower,
        "ci_upper": upper,
    }


def _cinc_variance(n, d, d_cause, survival_before, survival, incidence) -> np.ndarray:
    """cmprsk's `cinc` variance of one cause's curve at each event time (the formula is in the module docstring)."""
    d_other = d - d_cause
    inv_survival = np.divide(1.0, survival, out=np.zeros_like(survival), where=survival > 0)

    def weight(x):
        # cinc's tie factor (n - x) / (n - 1) for x tied events, 1 for a single event (also when n = 1)
        tie = np.divide(n - x, n - 1, out=np.ones_like(n), where=x > 1)
        return survival_before**2 * tie * x / n**2

    w_cause = weight(d_cause)
    # cinc skips the other causes' term once everyone is gone (S_j = 0): no later time can use it
    w_other = np.where(survival > 0, weight(d_other), 0.0)
    a_cause = 1.0 + incidence * inv_survival
    a_other = incidence * inv_survival
    v1 = np.cumsum(w_other * a_other**2 + w_cause * a_cause**2)
    v2 = np.cumsum(w_other * inv_survival * a_other + w_cause * inv_survival * a_cause)
    v3 = np.cumsum((w_other + w_cause) * inv_survival**2)
    raw = v1 + incidence**2 * v3 - 2 * incidence * v2
    # cinc records the variance at the cause's own event times and holds it in between, where the exact value
    # is unchanged; holding it also keeps rounding noise out of the flat stretches
    last_cause_time = np.maximum.accumulate(np.where(d_cause > 0, np.arange(len(n)), -1))
    held = np.where(last_cause_time >= 0, raw[np.maximum(last_cause_time, 0)], 0.0)
    # the running sums can cancel to a few ulps below zero where the variance is 0
    return np.maximum(held, 0.0)


def _log_minus_log_interval(incidence, variance, z) -> tuple[np.ndarray, np.ndarray]:
    """F^{exp(±z sqrt(Var) / (F log F))}: the delta-method interval for log(-log F), mapped back into [0, 1]."""
    inside = (incidence > 0) & (incidence < 1) & (variance > 0)
    safe = np.where(inside, incidence, 0.5)
    log_f = np.log(safe)
    spread = np.where(inside, z * np.sqrt(np.where(inside, variance, 0.0)) / (safe * log_f), 0.0)
    lower = np.where(inside, np.exp(np.exp(-spread) * log_f), incidence)
    upper = np.where(inside, np.exp(np.exp(spread) * log_f), incidence)
    return lower, upper


# --------------------------------------------------------------------------------------------
# Input checks: each names the argument (or the Series' own name) and the first offending row.
# --------------------------------------------------------------------------------------------


def _as_series(values, argument: str) -> pd.Series:
    if isinstance(values, pd.DataFrame):
        raise CompetingRisksInputError(f"{argument} must be one column (a Series or a 1-D array), not a DataFrame")
    if isinstance(values, pd.Series):
        return values
    array = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if array.ndim != 1:
        raise CompetingRisksInputError(f"{argument} must be 1-D (one value per account), not of shape {array.shape}")
    return pd.Series(array)


def _name(values, argument: str) -> str:
    name = getattr(values, "name", None)
    return f"{argument} ({name!r})" if isinstance(values, pd.Series) and name is not None else argument


def _first(series: pd.Series, mask: np.ndarray) -> str:
    position = int(np.flatnonzero(mask)[0])
    label = series.index[position]
    return f"row {position}" if label == position else f"row {position} (index {label!r})"


def _durations_array(durations) -> np.ndarray:
    series = _as_series(durations, "durations")
    if len(series) == 0:
        raise CompetingRisksInputError("durations is empty: there are no accounts to estimate from")
    name = _name(durations, "durations")
    if series.dtype.kind == "b" or (
        series.dtype == object and series.map(lambda v: isinstance(v, (bool, np.bool_))).any()
    ):
        raise CompetingRisksInputError(f"{name} must be numbers of days, not True/False")
    numeric = pd.to_numeric(series, errors="coerce")
    not_number = (numeric.isna() & series.notna()).to_numpy(dtype=bool)
    if not_number.any():
        position = int(np.flatnonzero(not_number)[0])
        raise CompetingRisksInputError(
            f"{name} must be numbers of days; {_first(series, not_number)} is {series.iloc[position]!r}"
        )
    values = numeric.to_numpy(dtype=float, na_value=np.nan)
    for problem, mask in (
        ("missing (NaN) durations", np.isnan(values)),
        ("infinite durations", np.isinf(values)),
        ("negative durations", values < 0),
    ):
        if mask.any():
            raise CompetingRisksInputError(
                f"{name} has {int(mask.sum())} {problem}, first at {_first(series, mask)}; every account needs "
                "its days from start to churn or censoring, 0 or more"
            )
    # whole-number input keeps integer times in the results (days from a database), anything else floats
    return values.astype(np.int64) if numeric.dtype.kind in "iu" else values


def _censored_mask(values: pd.Series) -> np.ndarray:
    """0, None, NaN: the account has not churned (as lifelines' and scikit-survival's event codes)."""
    return values.isna().to_numpy(dtype=bool) | values.eq(0).fillna(False).to_numpy(dtype=bool)


def _blank_mask(values: pd.Series) -> np.ndarray:
    try:
        stripped = values.str.strip()  # NaN for the values that are not text
    except AttributeError:  # no text at all
        return np.zeros(len(values), dtype=bool)
    return stripped.eq("").fillna(False).to_numpy(dtype=bool)


def _is_censored(value) -> bool:
    if value is None:
        return True
    if isinstance(value, (numbers.Number, np.number)):
        return bool(value == 0) or bool(pd.isna(value))
    return value is pd.NA or value is pd.NaT


def _is_blank(value) -> bool:
    return isinstance(value, str) and not value.strip()


def _ordered_labels(values: pd.Series) -> list:
    """The distinct labels in a fixed order: a categorical's own category order (the analyst chose it), else
    numerically when all are numbers, else by their text (the type name breaks a tie)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.unique())
        return [c for c in values.cat.categories if c in present]
    labels = [v.item() if isinstance(v, np.generic) else v for v in values.unique()]
    if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in labels):
        return sorted(labels)
    return sorted(labels, key=lambda v: (str(v), type(v).__name__))


def _concat(parts: list[pd.DataFrame], columns: list[str], time_dtype) -> pd.DataFrame:
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    frame = frame[columns]
    frame["time_days"] = frame["time_days"].astype(time_dtype)
    return frame
