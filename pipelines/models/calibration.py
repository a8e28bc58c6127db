"""Calibration on a time split: did a model's predicted churn match what then happened?

Owns the `model_calibration` table. For a horizon of h days, the model's specification (its terms and account
covariates) is refitted on the panel as it stood at the cutoff, as-of minus h, with nothing from after it; each
account active at the cutoff gets its churn probability over the next h days by the formula and baseline every
prediction uses (`risk.churn_probability`, `risk.BaselineHazard`); and the predictions are compared with what
happened by as-of:

- overall: the predicted number of churned accounts against the number that churned, with the range chance
  alone gives the count if the model is right (Σp ± 1.96·sqrt(Σp(1 − p)), the accounts churning independently);
  a count outside it is a miss the pages state before any money figure that rests on the model;
- by decile of predicted risk: the mean predicted probability against the observed rate, with its Wilson
  interval; and Harrell's concordance of the predictions with the time to churn.

A check of the past model stands in for today's: same specification, same baseline estimator, less history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial

import duckdb
import numpy as np
import pandas as pd

from .coxph import ConvergenceError, concordance_index
from .fits_in_threads import map_in_threads
from .drivers import DriversInputError, ServiceDrivers, build_design, shared_structures, subset_design
from .risk import (TAIL_DAYS, Z_95, BaselineHazard, RiskInputError, churn_probability, current_rows,
                   design_matrix, max_tenure_days, wilson_interval)
from .store import store_result
from ..settings import HOLDOUT_MAX_ACCOUNTS, SAMPLE_SEED
from ..sqlrun import execute_template, file_fragment, identifier, literal, own_table, query_text

# the horizons every stored model is checked at: the at-risk list's and the investment case's default
CALIBRATION_HORIZONS = (90, 365)
N_DECILES = 10

CALIBRATION_COLUMNS = {
    "model": "varchar", "horizon_days": "integer", "cutoff": "date", "decile": "integer", "n_accounts": "bigint",
    "n_churned": "bigint", "predicted_churned": "double", "predicted_lower": "double", "predicted_upper": "double",
    "within_range": "boolean", "predicted_mean": "double", "predicted_min": "double", "predicted_max": "double",
    "observed_rate": "double", "observed_ci_lower": "double", "observed_ci_upper": "double",
    "concordance": "double",
}


@dataclass(frozen=True)
class ModelSpec:
    """What is refitted at the cutoff: a model's name ("risk", or the factor a what-if changes), its terms and
    account covariates (None: plan when the build has it)."""

    name: str
    factors: tuple[str, ...]
    covariates: tuple[str, ...] | None = None
    # coefficients by term to start Newton from (today's fit): the refit lands near them, in fewer steps
    start_from: dict[str, float] | None = None


def spec_of(name: str, model: ServiceDrivers) -> ModelSpec:
    """The specification of a fitted model, to be refitted at a cutoff."""
    return ModelSpec(name, tuple(model.factor_names()),
                     None if model.covariates is None else tuple(model.covariates), model.model_.params_.to_dict())


def show_panel_at_cutoff(past: duckdb.DuckDBPyConnection, cutoff: date) -> None:
    """On cursor `past` (a cursor of its own), account_months becomes the panel as it stood at the cutoff: a
    temporary view of that name shadows the build's table there, so every reader of the panel runs on it unchanged,
    and nothing is copied."""
    execute_template(past, "create_temp_view_as", view=identifier("account_months"), query=file_fragment(
        "queries", "risk_holdout_panel", panel=own_table(past, "account_months"), cutoff=literal(cutoff.isoformat())))


class HoldoutCalibration:
    """Refit each spec at as-of minus each horizon, predict and compare. fit(con) returns self with table_ (the
    `model_calibration` rows: per model and horizon, one overall row, decile null, then one per decile) and
    errors_ ((model, horizon) -> why it could not be checked, e.g. no churn before the cutoff)."""

    def __init__(self, specs: list[ModelSpec], horizons=CALIBRATION_HORIZONS, n_deciles: int = N_DECILES,
                 max_accounts: int | None = HOLDOUT_MAX_ACCOUNTS, sample_seed: int = SAMPLE_SEED,
                 tail_days: int = TAIL_DAYS):
        self.specs = list(specs)
        self.horizons = tuple(horizons)
        self.n_deciles = n_deciles
        self.max_accounts = max_accounts
        self.sample_seed = sample_seed
        self.tail_days = tail_days

    def fit(self, con: duckdb.DuckDBPyConnection, as_of: date) -> "HoldoutCalibration":
        frames, self.errors_ = [], {}
        for horizon in self.horizons:
            cutoff = as_of - timedelta(days=horizon)
            try:
                frames.extend(self._at_cutoff(con, cutoff, horizon))
            except (RiskInputError, DriversInputError, ConvergenceError, ValueError) as exc:
                for spec in self.specs:
                    self.errors_[(spec.name, horizon)] = f"not checked: {exc}"
        columns = list(CALIBRATION_COLUMNS)
        self.table_ = pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
        return self

    def _at_cutoff(self, con, cutoff: date, horizon: int) -> list[pd.DataFrame]:
        with con.cursor() as past:
            show_panel_at_cutoff(past, cutoff)
            n_rows, n_churned = past.execute(query_text("panel_rows_and_churns")).fetchall()[0]
            if n_rows == 0 or n_churned == 0:
                raise RiskInputError(f"no churn before the cutoff {cutoff} to fit on")
            every_term = sorted({t for spec in self.specs for t in spec.factors})
            covariates = sorted({c for spec in self.specs for c in (spec.covariates or ())})
            reader = ServiceDrivers(factors=every_term, covariates=covariates or None, robust=False,
                                    max_accounts=self.max_accounts, sample_seed=self.sample_seed, concordance=False)
            panel, kinds, n_accounts, sample = reader.read_panel(past)
            full = build_design(panel, every_term, reader.covariates_for(kinds), kinds)
            shared = shared_structures(panel, full)
            rows = current_rows(past)
            max_tenure = max_tenure_days(past)
        outcomes = execute_template(con, "risk_holdout_outcomes", {"cutoff": cutoff}).df()
        days = rows[["account_id"]].merge(outcomes, on="account_id", how="left")["days_to_churn"].to_numpy(float)
        churned = days <= horizon  # NaN (no churn) compares False
        checked = map_in_threads(partial(self._check, panel, kinds, n_accounts, sample, full, shared, rows, max_tenure,
                                         cutoff, horizon, churned, days), self.specs)
        frames = []
        for spec, (frame, error) in zip(self.specs, checked):
            if error is not None:
                self.errors_[(spec.name, horizon)] = error
            else:
                frames.append(frame)
        return frames

    def _check(self, panel, kinds, n_accounts, sample, full, shared, rows, max_tenure, cutoff: date, horizon: int,
               churned: np.ndarray, days: np.ndarray, spec: ModelSpec) -> tuple[pd.DataFrame | None, str | None]:
        """One spec refitted at the cutoff and its predictions compared: (the rows, None) or (None, why not)."""
        try:
            model = ServiceDrivers(factors=list(spec.factors), covariates=None if spec.covariates is None
                                   else list(spec.covariates), robust=False, max_accounts=None,
                                   concordance=False, sample_seed=self.sample_seed, start_from=spec.start_from)
            model.fit_panel(panel, kinds, n_accounts, sample=sample, shared=shared, ph_tests=False,
                            design=subset_design(full, list(spec.factors), model.covariates_for(kinds),
                                                 shared["column_checks"]))
        except (ConvergenceError, DriversInputError, ValueError) as exc:
            return None, f"not checked: the model could not be refitted at {cutoff} ({exc})"
        hazard = BaselineHazard(model.model_, max_tenure, self.tail_days)
        lp = model.model_.predict_log_partial_hazard(design_matrix(rows, model).to_numpy())
        predicted = churn_probability(hazard.increment(rows.tenure_days, horizon), lp)
        return self._compare(spec.name, horizon, cutoff, predicted, churned, days), None

    def _compare(self, name: str, horizon: int, cutoff: date, predicted: np.ndarray, churned: np.ndarray,
                 days: np.ndarray) -> pd.DataFrame:
        time_to_event = np.where(churned, days, float(horizon))
        # probabilities equal in exact arithmetic can differ in the last bits with the order the panel was read
        # in: ranked to 12 decimals, ties in account order, so the deciles and the concordance do not depend on it
        ranked = np.round(predicted, 12)
        # Harrell's C on the horizon's outcome: a higher probability should go with an earlier churn
        concordance = float(concordance_index(time_to_event, -ranked, churned)) if churned.any() else math.nan
        n_deciles = min(self.n_deciles, len(predicted))
        decile = pd.qcut(pd.Series(ranked).rank(method="first"), n_deciles, labels=False).to_numpy() + 1
        frame = pd.DataFrame({"decile": decile, "predicted": predicted, "churned": churned.astype(float),
                              "variance": predicted * (1.0 - predicted)})
        overall = frame.assign(decile=0)
        table = pd.concat([overall, frame]).groupby("decile").agg(
            n_accounts=("predicted", "size"), predicted_churned=("predicted", "sum"),
            predicted_mean=("predicted", "mean"), predicted_min=("predicted", "min"),
            predicted_max=("predicted", "max"), n_churned=("churned", "sum"), observed_rate=("churned", "mean"),
            spread=("variance", "sum")).reset_index()
        table["n_churned"] = table["n_churned"].astype(int)
        half = Z_95 * np.sqrt(table.pop("spread"))
        table["predicted_lower"] = np.maximum(table.predicted_churned - half, 0.0)
        table["predicted_upper"] = table.predicted_churned + half
        table["within_range"] = table.n_churned.between(table.predicted_lower, table.predicted_upper)
        table["observed_ci_lower"], table["observed_ci_upper"] = wilson_interval(table.n_churned, table.n_accounts)
        table["decile"] = table["decile"].astype("Int64").where(table.decile > 0)
        table["concordance"] = np.where(table.decile.isna(), concordance, np.nan)
        table["model"], table["horizon_days"], table["cutoff"] = name, horizon, pd.Timestamp(cutoff)
        return table


def store_calibration(con: duckdb.DuckDBPyConnection, calibration: HoldoutCalibration | None,
                      error: str | None = None) -> int:
    """Write model_calibration and model_info['calibration'] (the checks that could not be made, and why)."""
    if calibration is None:
        return store_result(con, "model_calibration", "calibration", error=error)
    return store_result(con, "model_calibration", "calibration", calibration.table_, {
        "method": "time-split holdout: each stored model's specification refitted on the panel as it stood at "
                  "as-of minus the horizon, its predicted churn of the accounts active then compared with what "
                  "happened by as-of; the count's 95% range is chance alone (Σp ± 1.96·sqrt(Σp(1 − p)))",
        "horizons": list(calibration.horizons),
        "errors": [{"model": model, "horizon_days": horizon, "error": error}
                   for (model, horizon), error in calibration.errors_.items()],
    })


def read_calibration(con: duckdb.DuckDBPyConnection, model: str) -> pd.DataFrame:
    """The stored rows of one model (every horizon, overall first), empty when the build could check none."""
    return execute_template(con, "model_calibration_of", {"model": model}).df()


def overall_row(table: pd.DataFrame, horizon_days: int) -> dict | None:
    """The overall check of the horizon nearest `horizon_days` among those stored, or None."""
    if table.empty:
        return None
    overall = table[table.decile.isna()]
    if overall.empty:
        return None
    nearest = overall.iloc[(overall.horizon_days - horizon_days).abs().argsort()].iloc[0]
    return nearest.to_dict()


def calibration_sentence(row: dict) -> str:
    """One overall check in plain words: what the model predicted, what happened, and whether that is within what
    chance alone allows."""
    cutoff = pd.Timestamp(row["cutoff"]).date()
    predicted, happened = row["predicted_churned"], int(row["n_churned"])
    said = (f"Refitted on the data up to {cutoff}, the model predicted {predicted:,.0f} churns in the next "
            f"{int(row['horizon_days'])} days among the {int(row['n_accounts']):,} accounts active then; {happened:,} "
            f"happened")
    span = f"{row['predicted_lower']:,.0f}–{row['predicted_upper']:,.0f}"
    if row["within_range"]:
        return f"{said}, within the {span} that chance alone allows."
    direction = "over" if predicted > happened else "under"
    off = abs(predicted / happened - 1.0) if happened else math.inf
    return (f"{said}, outside the {span} that chance alone allows: the model {direction}-predicted churn by "
            f"{off:.0%}, so read its figures as {direction}stated by about as much.")
