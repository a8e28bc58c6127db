"""What-if by churn cause: a change in service moves each cause's churn by that cause's own model, so support is
credited only with the churn it moves.

For the accounts active at as-of, each modelled cause c gives each account a probability p_c of churning from c
within the horizon were c the only way to leave (`WhatIf` on c's outcome model: the changed factor's terms, the
other causes censored), today and with the change. The causes compete: an account is still a customer at the
horizon only if it has left from none of them, and under cause-specific proportional hazards

    S = exp(-sum_c H_c) = prod_c (1 - p_c)

exactly, so the accounts the change keeps are sum_i (S_i with the change - S_i today), ARR kept the same weighted by
12 x MRR. Each cause's expected churn with the causes competing is also given (its
cumulative incidence: the chance of churning at all, shared in proportion to the causes' hazards over the horizon);
a cause the change does not move can rise a little, as the accounts kept stay at risk of it. What is kept "through"
cause c is sum_i (p_c today - p_c changed) x prod_{d != c} (1 - p_d today): the
accounts c no longer takes, of those the other causes had not taken first. When the change moves one cause alone
(voluntary churn, the usual case) that is the whole of what is kept; an account kept from leaving voluntarily may
still fail to pay later, which the product accounts for.

Intervals: each cause's model has its own coefficient draws (`WhatIf`; the causes' partial likelihoods are
separate, so their estimates are independent). A cause's draws of its own kept accounts are scaled by the ratio of
what it keeps against the other causes to what it keeps alone, at the estimate (that ratio is the other causes'
survival averaged over the accounts the change moves, which the draws move little), and the total's draws add the
causes' draws. A cause with too few churns for a model of its own is left out of S (said in the notes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from .cause_effects import modelled_causes, stored_cause_model
from .drivers import DriversInputError, ServiceDrivers
from .factor_effects import stored_structure
from .whatif import WhatIf, WhatIfInputError, parse_changes
from ..settings import FACTOR_MODEL_ACCOUNTS, WHATIF_DRAW_ACCOUNTS, WHATIF_DRAWS, WHATIF_HORIZON_DAYS


def cause_whatif_model(con: duckdb.DuckDBPyConnection, cause: str, changed: list[str],
                       max_accounts: int | None = FACTOR_MODEL_ACCOUNTS) -> ServiceDrivers:
    """The outcome model of churn from `cause` a what-if of `changed` uses: the build's stored one for one factor,
    else one fitted here (the changed factors' what-if terms, cluster-robust, the other causes censored)."""
    structure = stored_structure(con)
    structure.check_known(changed)
    if len(changed) == 1:
        stored = stored_cause_model(con, cause, changed[0])
        if stored is not None:
            return stored
    return ServiceDrivers(factors=structure.whatif_terms(changed), max_accounts=max_accounts, robust=True,
                          concordance=False, cause=cause).fit(con)


def _interval(draws: np.ndarray, estimate: float, level: float) -> dict[str, float]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return {"estimate": float(estimate), "ci_lower": float(low), "ci_upper": float(high)}


class CauseWhatIf:
    """Accounts and ARR a change keeps over a horizon, through each churn cause's own model. Configure as `WhatIf`;
    fit(con) returns self with result_ (the total and each cause's share, with intervals), by_cause_ (one WhatIf per
    cause, each cause alone), accounts_ (each account's chance of still being a customer, today and with the
    change) and notes_."""

    def __init__(self, changes, horizon_days: int = WHATIF_HORIZON_DAYS, n_draws: int = WHATIF_DRAWS, seed: int = 0,
                 level: float = 0.95, max_draw_accounts: int = WHATIF_DRAW_ACCOUNTS):
        self.changes = parse_changes(changes)
        self.horizon_days = horizon_days
        self.n_draws = n_draws
        self.seed = seed
        self.level = level
        self.max_draw_accounts = max_draw_accounts

    def fit(self, con: duckdb.DuckDBPyConnection, account_ids=None, rows: pd.DataFrame | None = None,
            overlap_ranges: Mapping[str, pd.DataFrame] | None = None) -> "CauseWhatIf":
        causes = modelled_causes(con)
        if not causes:
            raise WhatIfInputError("this build has no models by churn cause: the data give no churn reasons (add a "
                                   "churn_reason column to the accounts file), or no cause had enough churn")
        changed = [c.factor for c in self.changes]
        self.by_cause_: dict[str, WhatIf] = {}
        self.models_: dict[str, ServiceDrivers] = {}
        for position, cause in enumerate(causes):
            try:
                model = cause_whatif_model(con, cause, changed)
            except DriversInputError as error:
                raise WhatIfInputError(f"the model of {cause} churn for this what-if cannot be fitted: {error}") from error
            self.models_[cause] = model
            # each cause's draws from a seed of its own: the causes' coefficient errors are independent
            self.by_cause_[cause] = WhatIf(self.changes, self.horizon_days, self.n_draws, self.seed + position,
                                           self.level, self.max_draw_accounts).fit(
                con, drivers=model, account_ids=account_ids, rows=rows, overlap_ranges=overlap_ranges)
        self._combine(causes)
        return self

    def _combine(self, causes: list[str]) -> None:
        first = self.by_cause_[causes[0]].accounts_
        for cause in causes[1:]:  # every cause scored the same accounts, in the same order
            assert first.account_id.equals(self.by_cause_[cause].accounts_.account_id)
        arr = first.arr.to_numpy()
        today = np.column_stack([self.by_cause_[c].accounts_.churn_probability_baseline.to_numpy() for c in causes])
        changed = np.column_stack([self.by_cause_[c].accounts_.churn_probability_scenario.to_numpy() for c in causes])
        stays_today, stays_changed = np.prod(1 - today, axis=1), np.prod(1 - changed, axis=1)
        kept = stays_changed - stays_today
        incidence_today, incidence_changed = _incidence(today), _incidence(changed)
        by_cause: list[dict[str, Any]] = []
        total_accounts_draws = np.zeros(self.n_draws)
        total_arr_draws = np.zeros(self.n_draws)
        for j, cause in enumerate(causes):
            moved = today[:, j] - changed[:, j]
            # the other causes' chance of not having taken the account first, today
            others = np.prod(np.delete(1 - today, j, axis=1), axis=1)
            accounts, arr_kept = float(moved @ others), float((moved * others) @ arr)
            alone = self.by_cause_[cause].result_
            accounts_ratio = _ratio(accounts, alone["accounts_kept"]["estimate"], others)
            arr_ratio = _ratio(arr_kept, alone["arr_kept"]["estimate"], others)
            draws = self.by_cause_[cause].draws_
            accounts_draws = accounts_ratio * draws.accounts_kept.to_numpy()
            arr_draws = arr_ratio * draws.arr_kept.to_numpy()
            total_accounts_draws += accounts_draws
            total_arr_draws += arr_draws
            by_cause.append({"cause": cause,
                             "expected_churned_today": float(incidence_today[:, j].sum()),
                             "expected_churned_with_change": float(incidence_changed[:, j].sum()),
                             "accounts_kept": _interval(accounts_draws, accounts, self.level),
                             "arr_kept": _interval(arr_draws, arr_kept, self.level),
                             "n_events": int(self.models_[cause].model_info_["n_events"])})
        self.result_: dict[str, Any] = {
            "accounts_kept": _interval(total_accounts_draws, float(kept.sum()), self.level),
            "arr_kept": _interval(total_arr_draws, float(kept @ arr), self.level),
            "baseline": {"expected_churned_accounts": float((1 - stays_today).sum()),
                         "expected_lost_arr": float((1 - stays_today) @ arr)},
            "scenario": {"expected_churned_accounts": float((1 - stays_changed).sum()),
                         "expected_lost_arr": float((1 - stays_changed) @ arr)},
            "by_cause": by_cause,
        }
        self.accounts_ = pd.DataFrame({"account_id": first.account_id, "arr": arr,
                                       "still_customer_today": stays_today, "still_customer_with_change": stays_changed})
        self.n_accounts_ = int(len(first))
        self.notes_ = self._notes(causes)

    def _notes(self, causes: list[str]) -> list[str]:
        shares = ", ".join(f"{row['cause']} {row['accounts_kept']['estimate']:,.1f} "
                           f"({row['accounts_kept']['ci_lower']:,.1f} to {row['accounts_kept']['ci_upper']:,.1f})"
                           for row in self.result_["by_cause"])
        notes = [f"each churn cause's own model moves that cause's churn ({', '.join(causes)}); accounts kept through "
                 f"each cause, {self.level:.0%} interval: {shares}. A cause the change does not move keeps about none, "
                 "so support is not credited with churn it cannot prevent",
                 "the causes compete: an account kept from one cause can still leave from another within the horizon, "
                 "which the total accounts for (the product of each cause's chance of not taking it)",
                 "each cause's interval is that cause's coefficient draws, scaled by the other causes' survival at the "
                 "estimate; the total's adds the causes' draws, which are independent"]
        # what holds for every cause's answer (the accounts, the measures held, overlap, the tail): the first's notes,
        # less its own interval's
        interval_note = f"the {self.level:.0%} interval reflects"
        return notes + [n for n in self.by_cause_[causes[0]].notes_ if not n.startswith(interval_note)]

    def to_json_dict(self) -> dict:
        return {**self.result_, "horizon_days": self.horizon_days, "accounts": self.n_accounts_,
                "changes": [c.to_dict() for c in self.changes], "notes": self.notes_,
                "each_cause_alone": {cause: w.to_json_dict() for cause, w in self.by_cause_.items()}}


def _ratio(against_others: float, alone: float, others: np.ndarray) -> float:
    """What a cause keeps against the other causes over what it keeps alone; where it keeps about nothing alone,
    the other causes' average survival (the ratio's limit)."""
    return against_others / alone if abs(alone) > 1e-9 else float(others.mean())


def _incidence(net: np.ndarray) -> np.ndarray:
    """Each account's chance of churning from each cause within the horizon, the causes competing, from each cause's
    chance alone (columns): the chance of churning at all, 1 - prod(1 - p), shared in proportion to the causes'
    cumulative hazards -log(1 - p). Exact when the causes' hazards keep their proportions over the horizon; where
    one cause's baseline falls over tenure and another's does not, close."""
    hazards = -np.log1p(-np.minimum(net, 1 - 1e-15))
    total = hazards.sum(axis=1, keepdims=True)
    churns = 1 - np.prod(1 - net, axis=1, keepdims=True)
    return np.divide(hazards, total, out=np.zeros_like(hazards), where=total > 0) * churns
