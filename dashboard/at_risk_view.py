"""The at-risk list's chances by churn cause, as the page shows them (pure functions): one column per cause beside the
list's own chance, and a sentence splitting the riskiest account's chance between the causes."""

from __future__ import annotations

import math

import pandas as pd

from pipelines.churn_reasons import UNKNOWN
from pipelines.models.risk import HORIZON_DAYS

GUIDANCE = ("Voluntary churn is what support can move; involuntary churn (failed payments) calls for billing "
            "follow-up, not support.")
NOTE = ("The chances by cause come from each cause's own model, the causes competing (an account that fails to pay "
        "cannot leave by choice later); they add up to those models' chance of churning at all, which can differ a "
        "little from the list's chance, from the model of all churn.")
# what each cause means to a support leader; a cause a reasons file names is shown by its name alone
_MEANING = {"voluntary": "what support can move", "involuntary": "a failed payment"}


def cause_column(cause: str) -> str:
    """The list's column of one cause's chance (a name no column of account_risk has)."""
    return f"cause_churn_probability_{HORIZON_DAYS}d: {cause}"


def cause_label(cause: str) -> str:
    """The column's heading: "Chance of voluntary churn in 90 days"."""
    if cause == UNKNOWN:
        return f"Chance of churn with no reason recorded in {HORIZON_DAYS} days"
    return f"Chance of {cause} churn in {HORIZON_DAYS} days"


def cause_labels(causes: list[str]) -> dict[str, str]:
    """Each cause's column in the list and its heading, most churn first."""
    return {cause_column(cause): cause_label(cause) for cause in causes}


def with_cause_columns(risk: pd.DataFrame, cause_rows: pd.DataFrame, causes: list[str]) -> pd.DataFrame:
    """The listed accounts (risk, in its order) with one column per cause (cause_column) holding each account's
    chance of churning from it in the next 90 days; unchanged when there are no causes."""
    if not causes or cause_rows.empty:
        return risk
    wide = cause_rows.pivot(index="account_id", columns="churn_cause", values="churn_probability_90d")
    wide = wide.reindex(columns=causes).rename(columns=cause_column).rename_axis(columns=None)
    return risk.merge(wide, how="left", left_on="account_id", right_index=True)


def _whole_points(probabilities: list[float]) -> list[int]:
    """Percentage points, whole, that add up to the rounded total (the largest remainders take the spare points)."""
    points = [100 * p for p in probabilities]
    whole = [math.floor(p) for p in points]
    spare = round(sum(points)) - sum(whole)
    for i in sorted(range(len(points)), key=lambda i: whole[i] - points[i])[:max(spare, 0)]:
        whole[i] += 1
    return whole


def _part(cause: str, points: int, probability: float, first: bool) -> str:
    amount = "under 1" if points == 0 and probability > 0 else f"{points}"
    unit = (" point is" if amount == "1" else " points are") if first else ""
    what = "of unknown cause (no reason recorded)" if cause == UNKNOWN else cause
    meaning = f" ({_MEANING[cause]})" if cause in _MEANING else ""
    return f"{amount}{unit} {what}{meaning}"


def cause_split_sentence(listed: pd.DataFrame, causes: list[str]) -> str | None:
    """How the riskiest listed account's chance of churning splits between the causes: "Of the 43% chance of churning
    in 90 days the models by cause give A002873, the riskiest account listed (45% in the list, from the model of all
    churn), 31 points are voluntary (what support can move) and 12 involuntary (a failed payment)." None without
    causes or accounts."""
    columns = [cause_column(c) for c in causes]
    if not causes or listed.empty or not set(columns) <= set(listed.columns):
        return None
    top = listed.iloc[0]
    probabilities = [float(top[c]) for c in columns]
    if any(math.isnan(p) for p in probabilities):
        return None
    points = _whole_points(probabilities)
    parts = [_part(cause, n, p, k == 0) for k, (cause, n, p) in enumerate(zip(causes, points, probabilities))]
    said = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    listed_points = round(100 * float(top[f"churn_probability_{HORIZON_DAYS}d"]))
    # the two models are fitted apart; where their chances differ the reader sees both, so neither looks like a slip
    aside = "" if listed_points == sum(points) else f" ({listed_points}% in the list, from the model of all churn)"
    return (f"Of the {sum(points)}% chance of churning in {HORIZON_DAYS} days the models by cause give "
            f"{top['account_id']}, the riskiest account listed{aside}, {said}.")


def cause_caption(causes: list[str]) -> str | None:
    """Below the list: what each cause calls for (when it splits voluntary from involuntary churn) and where the
    chances by cause come from; None without causes."""
    if not causes:
        return None
    return f"{GUIDANCE} {NOTE}" if {"voluntary", "involuntary"} <= set(causes) else NOTE
