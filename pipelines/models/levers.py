"""Levers: what the standard change of each service factor would keep over the next year, for the overview.

Owns the `whatif_levers` table. For each factor a what-if can change, its lever (`factors.Factor.lever`: a time
halved, 5 points fewer of a bad rate, 10 points more proactive updates, half a point of CSAT) is run as a what-if
with the factor's stored outcome model over every active account, 365 days ahead; the build stores the answers
so the overview reads them and never refits. Each row carries what the estimate rests on (the factor's own
adjustment set) for the sentence the overview shows.
"""

from __future__ import annotations

from functools import partial
from typing import Literal

import duckdb
import numpy as np
import pandas as pd

from .coxph import ConvergenceError
from .drivers import DriversInputError
from .causal_structure import CausalStructure
from .factor_effects import stored_factor_model, stored_structure
from .factors import CHANGEABLE, FACTORS_BY_NAME
from .fits_in_threads import map_in_threads
from .risk import current_rows
from .store import store_result
from .whatif import WhatIf, WhatIfInputError, parse_change
from ..settings import LEVER_DRAW_ACCOUNTS, LEVER_DRAWS, LEVER_HORIZON_DAYS

LEVER_COLUMNS = ["factor", "change", "words", "typical", "typical_today", "typical_with_change", "accounts",
                 "accounts_kept", "accounts_kept_lower", "accounts_kept_upper", "arr_kept", "arr_kept_lower",
                 "arr_kept_upper", "horizon_days", "adjusted_for"]


class Levers:
    """Every changeable factor's lever as a what-if. fit(con) returns self with levers_ (one row per factor, most
    ARR kept first) and notes_ (the factors that could not be run, and why)."""

    def __init__(self, horizon_days: int = LEVER_HORIZON_DAYS, n_draws: int = LEVER_DRAWS, seed: int = 0,
                 max_draw_accounts: int = LEVER_DRAW_ACCOUNTS):
        self.horizon_days = horizon_days
        self.n_draws = n_draws
        self.seed = seed
        self.max_draw_accounts = max_draw_accounts

    def fit(self, con: duckdb.DuckDBPyConnection, rows: pd.DataFrame | None = None) -> "Levers":
        """rows (optional): `current_rows(con, stored=True)` already read; they are not modified."""
        rows = current_rows(con, stored=True) if rows is None else rows
        structure = stored_structure(con)
        # each lever is a what-if of its own, on a cursor of its own: they run side by side (`map_in_threads`)
        levers = map_in_threads(partial(self._lever, con, rows, structure), CHANGEABLE)
        out = [row for row, _ in levers if row is not None]
        self.notes_ = [note for _, note in levers if note is not None]
        frame = pd.DataFrame(out, columns=LEVER_COLUMNS)
        self.levers_ = frame.sort_values("arr_kept", ascending=False, kind="stable").reset_index(drop=True)
        return self

    def _lever(self, con: duckdb.DuckDBPyConnection, rows: pd.DataFrame, structure: CausalStructure,
               factor: str) -> tuple[dict | None, str | None]:
        """The factor's lever as a what-if: (its row, None), or (None, why it could not be run)."""
        spec = FACTORS_BY_NAME[factor]
        if spec.lever is None:  # every changeable factor names its lever (factors.py)
            return None, f"{factor}: no lever defined"
        with con.cursor() as cursor:
            model = stored_factor_model(cursor, factor)
            if model is None:
                return None, f"{factor}: no stored outcome model, so no lever"
            try:
                whatif = WhatIf([(factor, spec.lever)], horizon_days=self.horizon_days, n_draws=self.n_draws,
                                seed=self.seed, max_draw_accounts=self.max_draw_accounts).fit(
                    cursor, drivers=model, rows=rows)
            except (WhatIfInputError, DriversInputError, ConvergenceError, ValueError) as exc:
                return None, f"{factor}: lever not estimated ({exc})"
        measured = rows[spec.column].astype(float).dropna()
        changed = parse_change(factor, spec.lever).apply(measured)
        typical = "median" if spec.change == "duration" else "average"
        summarise = np.median if typical == "median" else np.mean
        result = whatif.result_
        return {
            "factor": factor, "change": spec.lever, "words": spec.lever_words, "typical": typical,
            "typical_today": float(summarise(measured)) if len(measured) else None,
            "typical_with_change": float(summarise(changed)) if len(changed) else None,
            "accounts": whatif.n_accounts_,
            **{f"accounts_kept{suffix}": result["accounts_kept"][key] for suffix, key in _KEYS},
            **{f"arr_kept{suffix}": result["arr_kept"][key] for suffix, key in _KEYS},
            "horizon_days": self.horizon_days,
            "adjusted_for": structure.adjustment_in_short(factor, list(model.covariates or [])),
        }, None


_KEYS: tuple[tuple[str, Literal["estimate", "ci_lower", "ci_upper"]], ...] = (
    ("", "estimate"), ("_lower", "ci_lower"), ("_upper", "ci_upper"))


def store_levers(con: duckdb.DuckDBPyConnection, levers: Levers | None, error: str | None = None) -> int:
    """Write whatif_levers and model_info['levers']."""
    if levers is None:
        return store_result(con, "whatif_levers", "levers", error=error)
    return store_result(con, "whatif_levers", "levers", levers.levers_, {
        "method": "each changeable factor's lever as a what-if with its stored outcome model, every active "
                  f"account, {levers.horizon_days} days; {levers.n_draws} draws (seed {levers.seed}) on at most "
                  f"{levers.max_draw_accounts:,} sampled accounts for the interval",
        "notes": levers.notes_,
    })
