"""Churn by cause: the drivers and each service factor's effect on churn from each cause, as competing risks.

Support can move a customer's choice to leave (voluntary churn); it cannot move a card that failed (involuntary
churn). A model of all churn mixes the two, so an effect on voluntary churn is diluted by payment failures and a
what-if credits support with accounts it could never have kept. Here every cause with enough churned accounts gets
its own models, of the cause-specific hazard: the churns from the cause are the events, and an account that churns
from another cause leaves the risk set then, as a censored one does. The adjustment sets, cluster-robust intervals
and E-values are those of the all-churn models (`factor_effects`); only the event differs.

A cause-specific hazard ratio answers "among accounts still customers, how much faster do they churn from this
cause", which is what a change in service acts on. How many accounts that means over a horizon depends on every
cause's hazard together (an account kept from leaving may still fail to pay later), which the what-if computes from
these models. Causes come from the accounts' churn reasons (`pipelines/churn_reasons.py`); a build whose data give
no reason has no models here, and the pages say so.
"""

from __future__ import annotations

import json

import duckdb
import pandas as pd

from .causal_structure import BUILT_IN, CausalStructure
from .coxph import ConvergenceError
from .drivers import EFFECT_COLUMNS as DRIVER_EFFECT_COLUMNS
from .drivers import DriversInputError, ServiceDrivers, events_of_cause
from .factor_effects import EFFECT_COLUMNS as FACTOR_EFFECT_COLUMNS
from .factor_effects import FactorEffects
from .store import create_result_table, read_model_info, read_state, store_model_info, store_state
from ..churn_reasons import UNKNOWN
from ..settings import DEFAULT_DRIVERS_SAMPLE, FACTOR_MODEL_ACCOUNTS, MIN_CAUSE_CHURNS
from ..sqlrun import insert_rows, query_text

# what cause_model_state calls a cause's drivers model (the other rows are named by their factor)
DRIVERS_MODEL = "drivers"


def churn_cause_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Churned accounts per cause (churn_cause, churned_accounts), most first."""
    return con.execute(query_text("churn_cause_counts")).df()


def has_reasons(counts: pd.DataFrame) -> bool:
    """The data give churn reasons: some churned account counts under a cause other than unknown."""
    return bool((counts.churn_cause.fillna(UNKNOWN) != UNKNOWN).any())


class CauseModels:
    """Fit, for every churn cause with at least MIN_CAUSE_CHURNS churned accounts, its drivers model and each
    service factor's own model (with the what-if's outcome models). fit(con) returns self with causes_ (the causes
    modelled, most churn first), counts_ (churned accounts per cause), drivers_ and factor_effects_ (cause -> the
    fitted model; a cause whose fit failed is missing, with why in notes_)."""

    def __init__(self, structure: CausalStructure = BUILT_IN, drivers_sample: int | None = DEFAULT_DRIVERS_SAMPLE,
                 factor_accounts: int | None = FACTOR_MODEL_ACCOUNTS, min_churns: int = MIN_CAUSE_CHURNS):
        self.structure = structure
        self.drivers_sample = drivers_sample
        self.factor_accounts = factor_accounts
        self.min_churns = min_churns

    def fit(self, con: duckdb.DuckDBPyConnection) -> "CauseModels":
        counts = churn_cause_counts(con)
        self.counts_ = counts
        self.drivers_: dict[str, ServiceDrivers] = {}
        self.factor_effects_: dict[str, FactorEffects] = {}
        self.notes_: list[str] = []
        if not has_reasons(counts):
            self.causes_: list[str] = []
            self.notes_.append("the data give no churn reasons, so churn is not split by cause (add a churn_reason "
                               "column to the accounts file)")
            return self
        enough = counts.churned_accounts >= self.min_churns
        self.causes_ = counts.loc[enough, "churn_cause"].tolist()
        for row in counts.loc[~enough].itertuples():
            self.notes_.append(f"{row.churn_cause}: {row.churned_accounts:,} churned accounts, fewer than the "
                               f"{self.min_churns} a model of its own needs; its churns are censored in the other "
                               "causes' models")
        if not self.causes_:
            return self
        # the panel is read twice in all, whatever the number of causes: once as the drivers model reads it and once
        # as the factors' own models do (a smaller sample, with each row's account); each cause's models take their
        # events from it
        drivers_rows = ServiceDrivers(max_accounts=self.drivers_sample).read_panel(con, with_causes=True)
        factor_rows = ServiceDrivers(factors=[], max_accounts=self.factor_accounts, robust=True).read_panel(
            con, with_causes=True)
        for cause in self.causes_:
            panel, kinds, n_accounts, sample = drivers_rows
            factor_panel, factor_kinds, factor_n, factor_sample = factor_rows
            try:
                drivers = ServiceDrivers(max_accounts=self.drivers_sample, cause=cause).fit_panel(
                    events_of_cause(panel, cause), kinds, n_accounts, sample)
                # each factor's whole adjustment set at once: the stability table is the all-churn models' to show
                effects = FactorEffects(structure=self.structure, cause=cause, stability=False,
                                        max_accounts=self.factor_accounts).fit_panel(
                    events_of_cause(factor_panel, cause), factor_kinds, factor_n, factor_sample)
            except (DriversInputError, ConvergenceError, ValueError) as error:
                self.notes_.append(f"{cause}: its models could not be fitted ({error})")
                continue
            self.drivers_[cause], self.factor_effects_[cause] = drivers, effects
        return self


def store_cause_models(con: duckdb.DuckDBPyConnection, fitted: CauseModels | None, error: str | None = None) -> int:
    """Write cause_driver_effects, cause_factor_effects and cause_model_state (empty without reasons or models), and
    model_info['cause_models']: the causes, their churned accounts and the notes, so the pages can say why."""
    for table in ("cause_driver_effects", "cause_factor_effects", "cause_model_state"):
        create_result_table(con, table)
    if fitted is None:
        store_model_info(con, "cause_models", {"model": "cause_models", "error": error, "causes": []})
        return 0
    stored = 0
    for cause, drivers in fitted.drivers_.items():
        stored += insert_rows(con, "cause_driver_effects",
                              drivers.effects_[DRIVER_EFFECT_COLUMNS].assign(churn_cause=cause)[
                                  ["churn_cause", *DRIVER_EFFECT_COLUMNS]])
        store_state(con, "cause_model_state_insert", cause=cause, model=DRIVERS_MODEL,
                    state_json=json.dumps(drivers.state(), default=float))
    for cause, effects in fitted.factor_effects_.items():
        insert_rows(con, "cause_factor_effects",
                    effects.effects_.assign(churn_cause=cause)[["churn_cause", *FACTOR_EFFECT_COLUMNS]])
        for factor, model in effects.models_.items():
            store_state(con, "cause_model_state_insert", cause=cause, model=factor,
                        state_json=json.dumps(model.state(), default=float))
    notes = list(fitted.notes_) + [f"{cause}: {note}" for cause, effects in fitted.factor_effects_.items()
                                   for note in effects.notes_]
    store_model_info(con, "cause_models", {
        "model": "cause_models",
        "method": "for each churn cause, the drivers model and each service factor's own model of churn from that "
                  "cause, the other causes censored (cause-specific Cox models, time-varying, Efron ties)",
        "causes": [c for c in fitted.causes_ if c in fitted.drivers_],
        "churned_accounts": dict(zip(fitted.counts_.churn_cause.fillna(UNKNOWN), fitted.counts_.churned_accounts)),
        "notes": notes,
    })
    return stored


def modelled_causes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The causes the build fitted models of, most churn first; empty when the data give no reasons."""
    info = read_model_info(con, "cause_models")
    return list(info.get("causes", [])) if info else []


def stored_cause_model(con: duckdb.DuckDBPyConnection, cause: str, model: str = DRIVERS_MODEL) -> ServiceDrivers | None:
    """A cause's stored model (its drivers model, or a factor's what-if outcome model), for predictions; None when
    the build stored none."""
    state = read_state(con, "cause_model_state_read", cause=cause, model=model)
    return ServiceDrivers.from_state(state) if state is not None else None
