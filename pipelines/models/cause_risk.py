"""At-risk accounts by churn cause: each active account's probability of churning from each cause in the next 90
days, the causes competing.

Owns the `account_cause_risk` table and the columns `retention risk --by-cause` adds. Support can move a customer's
choice to leave; it cannot move a card that fails. The at-risk list's one probability mixes the two, so this module
splits it: for every account active at as-of and every cause the build modelled (`cause_effects`), the cause's
cumulative hazard over the next h days from that cause's stored drivers model (the other causes censored),

    H_c = (H0_c(τ + h) - H0_c(τ)) · exp(lp_c)

with `risk`'s machinery (H0_c pooled into tenure bands and extended past the longest tenure, the model's own terms for
the account's current row), and the probability of churning from c within h days while the other causes can take the
account first (the cause's cumulative incidence):

    P_c = H_c / Σ_d H_d · (1 - exp(-Σ_d H_d))

That is exact when the causes' hazards keep their proportions over the h days (each account's measures are held fixed,
so it is off only as far as the causes' baseline hazards change shape differently within the horizon). The causes'
probabilities add up to the probability of churning at all under the cause models, 1 - exp(-Σ_d H_d), which can
differ a little from the all-churn model's (`risk`): the two are fitted separately. A cause with too few churns for a
model of its own has no column; its churn is in none of the H_d.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from .cause_effects import modelled_causes, stored_cause_model
from .drivers import ServiceDrivers
from .risk import (HORIZON_DAYS, TAIL_DAYS, BaselineHazard, RiskInputError, current_rows, design_matrix,
                   max_tenure_days, read_as_of)
from .store import store_result

# the table's probability column: the build stores the at-risk list's horizon only
PROBABILITY_COLUMN = f"churn_probability_{HORIZON_DAYS}d"


class CauseRiskInputError(RiskInputError):
    """The build cannot split the risk by cause (its data give no churn reasons, or no cause model was stored)."""


def cause_hazards(rows: pd.DataFrame, models: Mapping[str, ServiceDrivers], max_tenure: float,
                  horizon_days: int = HORIZON_DAYS, tail_days: int = TAIL_DAYS) -> np.ndarray:
    """(n accounts, k causes): each cause's cumulative hazard over the next horizon_days for each row, from that
    cause's model, holding the row's measures fixed."""
    columns = []
    for model in models.values():
        hazard = BaselineHazard(model.model_, max_tenure, tail_days)
        lp = model.model_.predict_log_partial_hazard(design_matrix(rows, model).to_numpy())
        # lp capped as churn_probability caps it: exp would overflow, and such a hazard already means certain churn
        columns.append(hazard.increment(rows.tenure_days, horizon_days) * np.exp(np.minimum(lp, 700.0)))
    return np.column_stack(columns)


def competing_probabilities(hazards: np.ndarray) -> np.ndarray:
    """P_c = H_c / Σ_d H_d · (1 - exp(-Σ_d H_d)) for each row of (n, k) cumulative hazards; 0 where every H is 0."""
    total = hazards.sum(axis=1, keepdims=True)
    share = np.divide(hazards, total, out=np.zeros_like(hazards), where=total > 0)
    return share * -np.expm1(-total)


class CauseRisk:
    """Each active account's probability of churning from each modelled cause in the next horizon_days, the causes
    competing. fit(con) returns self.

    Learned: causes_ (most churn first), accounts_ (one row per account per cause: account_id, churn_cause,
    churn_probability), hazards_ (n accounts × k causes, in accounts_'s account order), model_info_ and notes_."""

    def __init__(self, horizon_days: int = HORIZON_DAYS, tail_days: int = TAIL_DAYS):
        if horizon_days <= 0:
            raise CauseRiskInputError("need horizon_days > 0")
        self.horizon_days = horizon_days
        self.tail_days = tail_days

    def fit(self, con: duckdb.DuckDBPyConnection, as_of: date | None = None,
            rows: pd.DataFrame | None = None) -> "CauseRisk":
        causes = modelled_causes(con)
        if not causes:
            raise CauseRiskInputError("this build has no models by churn cause, so no risk by cause: the data give no "
                                      "churn reasons (add a churn_reason column to the accounts file), or no cause "
                                      "had enough churned accounts")
        models: dict[str, ServiceDrivers] = {}
        self.notes_: list[str] = []
        for cause in causes:
            model = stored_cause_model(con, cause)
            if model is None:
                self.notes_.append(f"{cause}: the build stored no drivers model of it, so it has no probability here")
            else:
                models[cause] = model
        if not models:
            raise CauseRiskInputError("the build stored no drivers model of any churn cause; rebuild the database")
        self.as_of_ = as_of or read_as_of(con)
        # the rows the build stored: the same accounts as account_risk's, without reading every account-month again
        rows = rows if rows is not None else current_rows(con, stored=True)
        self.causes_ = list(models)
        self.hazards_ = cause_hazards(rows, models, max_tenure_days(con), self.horizon_days, self.tail_days)
        probabilities = competing_probabilities(self.hazards_)
        account_ids = rows["account_id"].astype(str).to_numpy()
        self.accounts_ = pd.DataFrame({
            "account_id": np.repeat(account_ids, len(self.causes_)),
            "churn_cause": np.tile(np.array(self.causes_, dtype=object), len(account_ids)),
            "churn_probability": probabilities.reshape(-1),
        })
        expected = dict(zip(self.causes_, probabilities.sum(axis=0).astype(float)))
        self.notes_.append(f"probabilities hold each account's current measures fixed over the next "
                           f"{self.horizon_days} days, and share the chance of churning at all among the causes in "
                           "proportion to their hazards over that time")
        self.model_info_: dict[str, Any] = {  # stored as JSON in the build; the pages and the CLI read it
            "model": "cause_risk",
            "method": f"{self.horizon_days}-day probability of churning from each cause, the causes competing: "
                      "H_c = (H0_c(tenure + h) - H0_c(tenure)) · exp(lp_c) from each cause's drivers model (the other "
                      "causes censored), P_c = H_c / Σ H · (1 - exp(-Σ H))",
            "as_of": str(self.as_of_),
            "horizon_days": self.horizon_days,
            "causes": self.causes_,
            "n_accounts": int(len(account_ids)),
            "expected_churned_accounts": expected,
            "expected_churned_accounts_all_causes": float(probabilities.sum()),
            "notes": self.notes_,
        }
        return self

    def by_account(self) -> pd.DataFrame:
        """One row per account (account_id, then one column of probabilities per cause, most churn first), in the
        order the accounts were scored."""
        wide = self.accounts_.pivot(index="account_id", columns="churn_cause", values="churn_probability")
        order = pd.unique(self.accounts_.account_id)
        return wide.loc[order, self.causes_].rename_axis(columns=None).reset_index()


def store_cause_risk(con: duckdb.DuckDBPyConnection, fitted: CauseRisk | None, error: str | None = None) -> int:
    """Write account_cause_risk and model_info['cause_risk'] (empty, with why, when there is none), so the at-risk page
    reads the probabilities and never predicts."""
    if fitted is None:
        return store_result(con, "account_cause_risk", "cause_risk", error=error)
    if fitted.horizon_days != HORIZON_DAYS:
        raise CauseRiskInputError(f"account_cause_risk holds {HORIZON_DAYS}-day probabilities, not "
                                  f"{fitted.horizon_days}-day ones")
    frame = fitted.accounts_.rename(columns={"churn_probability": PROBABILITY_COLUMN})
    return store_result(con, "account_cause_risk", "cause_risk", frame, info=fitted.model_info_)
