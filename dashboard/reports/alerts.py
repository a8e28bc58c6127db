"""Alerts: a metric of a selection of accounts, a rule, and a state that keeps an alert from firing on every run.

Two rules. `threshold`: the metric is above (or below) a number. `beyond_noise`: the latest complete month is further
from the months just before it than the metric's own month-to-month variation makes likely, so a quiet month raises
nothing while a spike does.

The noise: each month is taken as a local level plus noise. The noise's size comes from the month-to-month
differences of the NOISE_MONTHS before the latest, by their median absolute deviation (one spike in the history does
not inflate it), over the square root of two (a difference holds two months' noise). The expected value is the mean
of the LEVEL_MONTHS before the latest, so a slow trend moves the expectation with it; the latest month is beyond the
noise when it lies more than `noise_z` of those sizes from it, in the direction that is worse.

States: OK, then TRIGGERED when a reading breaks the rule, which is when the people named hear of it. A TRIGGERED
alert stays so, silently, while readings break the rule (the same month read again after each day's build, or the
next month still high); it re-arms (back to OK) at the first reading that keeps the rule, and can then fire again.
Pure functions: a series in, a reading and a state out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.charts import money, percent


@dataclass(frozen=True)
class Metric:
    words: str  # how a person names it
    worse: str  # the direction that is bad news: "up" or "down"
    monthly: bool  # a monthly series the noise can be judged by (else one value at the build's as-of date)
    kind: str  # "count", "money" or "share": how its values are written

    def format(self, value: float) -> str:
        if self.kind == "money":
            return money(value)
        if self.kind == "share":
            return percent(value)
        return f"{value:,.0f}"


METRICS: dict[str, Metric] = {
    "churned_accounts": Metric("churned accounts in the month", "up", True, "count"),
    "logo_churn_rate": Metric("logo churn in the month", "up", True, "share"),
    "churned_mrr": Metric("churned MRR in the month", "up", True, "money"),
    "net_revenue_retention": Metric("net revenue retention in the month", "down", True, "share"),
    "gross_revenue_retention": Metric("gross revenue retention in the month", "down", True, "share"),
    "new_accounts": Metric("new accounts in the month", "down", True, "count"),
    "active_accounts": Metric("active accounts", "down", False, "count"),
    "arr_at_risk": Metric("ARR at risk in the next 90 days", "up", False, "money"),
}
RULES = ("beyond_noise", "threshold")
DIRECTIONS = ("up", "down", "either")
DEFAULT_NOISE_Z = 2.5
NOISE_MONTHS = 24
LEVEL_MONTHS = 3
MIN_HISTORY_MONTHS = 8  # fewer months than this say too little about the noise: no alert is raised from them
OK, TRIGGERED = "ok", "triggered"


@dataclass(frozen=True)
class Rule:
    name: str
    metric: str
    scope: tuple[str, ...]  # filter texts, as a csm's scope in the roles file
    rule: str
    direction: str
    threshold: float | None
    noise_z: float
    notify: tuple[str, ...]


@dataclass(frozen=True)
class Reading:
    """One evaluation of a rule: the period read, its value, and whether it breaks the rule, in words."""

    period: str
    value: float | None
    breaks: bool
    words: str
    expected: float | None = None
    noise: float | None = None


def _worse(direction: str, gap: float) -> bool:
    return gap > 0 if direction == "up" else gap < 0 if direction == "down" else gap != 0


def noise_reading(series: pd.Series, rule: Rule) -> Reading:
    """The latest value of a monthly series (index: month start, complete months only) against its noise."""
    metric = METRICS[rule.metric]
    values = series.dropna().astype(float)
    if values.empty:
        return Reading("", None, False, f"no complete month of {metric.words} yet")
    period = f"{pd.Timestamp(values.index[-1]):%Y-%m}"
    latest = float(values.iloc[-1])
    history = values.iloc[:-1].tail(NOISE_MONTHS)
    if len(history) < MIN_HISTORY_MONTHS:
        return Reading(period, latest, False, f"{len(history)} months of history are too few to judge the noise by "
                                              f"(at least {MIN_HISTORY_MONTHS})")
    differences = np.diff(history.to_numpy())
    spread = 1.4826 * float(np.median(np.abs(differences - np.median(differences)))) / math.sqrt(2)
    expected = float(history.tail(LEVEL_MONTHS).mean())
    # a metric that never moved: any change is news, but a rounding difference is not
    spread = max(spread, 1e-6 * max(abs(expected), 1.0))
    scale = spread * math.sqrt(1 + 1 / LEVEL_MONTHS)  # the expectation, a mean of a few months, is noisy too
    z = (latest - expected) / scale
    breaks = _worse(rule.direction, z) and abs(z) > rule.noise_z
    side = "above" if latest >= expected else "below"
    words = (f"{metric.words} was {metric.format(latest)} in {pd.Timestamp(values.index[-1]):%B %Y}, "
             f"{metric.format(abs(latest - expected))} {side} the {metric.format(expected)} of the "
             f"{min(LEVEL_MONTHS, len(history))} months before; a month usually moves by about "
             f"{metric.format(spread)}, so this is {abs(z):.1f} times that")
    return Reading(period, latest, breaks, words, expected, spread)


def threshold_reading(period: str, value: float | None, rule: Rule) -> Reading:
    """One value against the rule's threshold."""
    metric = METRICS[rule.metric]
    if value is None or (isinstance(value, float) and math.isnan(value)) or rule.threshold is None:
        return Reading(period, None, False, f"no value of {metric.words} to compare")
    breaks = _worse(rule.direction, value - rule.threshold)
    relation = "above" if value > rule.threshold else "below" if value < rule.threshold else "at"
    return Reading(period, value, breaks, f"{metric.words} is {metric.format(value)}, {relation} the threshold of "
                                          f"{metric.format(rule.threshold)}")


def next_state(previous: dict | None, reading: Reading, at: str) -> tuple[dict, bool]:
    """The rule's state after `reading` and whether its people hear of it now (only on the step from OK)."""
    was_triggered = previous is not None and previous.get("status") == TRIGGERED
    if reading.breaks:
        if was_triggered:
            return {**(previous or {}), "period": reading.period, "value": reading.value}, False
        return {"status": TRIGGERED, "since": at, "period": reading.period, "value": reading.value}, True
    return {"status": OK, "since": at if was_triggered or previous is None else previous.get("since", at),
            "period": reading.period, "value": reading.value}, False
