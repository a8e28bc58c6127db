"""The build's time-split check of a model, as the pages show it (pure functions): one sentence per horizon,
whether it missed, and the deciles of the at-risk list's horizon for the chart."""

from __future__ import annotations

import pandas as pd

from pipelines.models.calibration import calibration_sentence
from pipelines.models.risk import HORIZON_DAYS as RISK_HORIZON_DAYS

NO_CHECK = "Calibration: this build stores no check of the risk model (too little history)."


def overall_checks(table: pd.DataFrame) -> list[dict]:
    """Per horizon checked: {"text", "missed"}; the page warns with a missed one before its money figures."""
    overall = table[table.decile.isna()]
    return [{"text": f"Calibration check on every account, {int(row['horizon_days'])} days: {calibration_sentence(row)}",
             "missed": not bool(row["within_range"])} for row in overall.to_dict("records")]


def risk_deciles(table: pd.DataFrame) -> pd.DataFrame:
    """The deciles of the at-risk list's own horizon."""
    return table[table.decile.notna() & (table.horizon_days == RISK_HORIZON_DAYS)]


def concordance_caption(table: pd.DataFrame) -> str | None:
    """Where the at-risk list's horizon was checked, and how well it ranked the accounts that churned."""
    overall = table[table.decile.isna() & (table.horizon_days == RISK_HORIZON_DAYS)]
    if overall.empty:
        return None
    row = overall.iloc[0]
    return (f"Refitted on the data up to {pd.Timestamp(row.cutoff):%Y-%m-%d}, checked on the next "
            f"{RISK_HORIZON_DAYS} days; concordance {row.concordance:.3f} (0.5 = chance, 1 = every churn ranked "
            "first).")
