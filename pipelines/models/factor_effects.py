"""Each service factor's effect on churn from a model of its own, adjusted for its confounders only.

One model with every factor in it (the drivers model) answers "holding every other factor fixed", which for
first response holds fixed its own consequences (SLA breaches are defined from it; bad interactions and
CSAT follow from it) and so is not the effect of improving it (the Table 2 fallacy). Here each factor gets
its own Cox model on the account-month panel with a stated adjustment set: case mix (high-priority and
live-channel shares), ticket volume, plan and the user's segment covariates, and the service factors
upstream of it; never its consequences. The causal structure is read from a file (causal_structure.py).

Intervals are cluster-robust by account (Lin & Wei's sandwich), which holds when the model is not exactly
right. Beside each effect: its E-value (VanderWeele & Ding 2017), how strong an unmeasured confounder
would have to be to explain it away, and a stability table of the estimate as the adjustment set grows.
These are estimates if the listed confounders are the important ones, not proof of cause.
"""

from __future__ import annotations

import json
import math
from functools import partial
from typing import NamedTuple

import duckdb
import numpy as np
import pandas as pd

from .coxph import ConvergenceError
from .causal_structure import BUILT_IN, STEPS, CausalStructure, recorded
from .factors import CHANGEABLE, label, term_words
from .fits_in_threads import map_in_threads
from .store import create_result_table, read_model_info, read_state, store_model_info, store_state
from .drivers import (NOT_ESTIMABLE, DriversInputError, account_covariates, ServiceDrivers, build_design,
                      sample_accounts, shared_structures, subset_design)
from ..settings import FACTOR_MODEL_ACCOUNTS, SAMPLE_SEED
from ..sqlrun import execute_template, insert_rows, query_text

Z_95 = 1.959963984540054


def e_value(ratio: float) -> float:
    """How strongly (as a risk ratio with both the factor and churn) an unmeasured confounder would have to be
    associated to explain a risk ratio away: RR + sqrt(RR·(RR − 1)), with RR < 1 inverted first.

    A hazard ratio is used as a risk ratio, which VanderWeele & Ding (2017) give for a rare outcome: monthly
    churn is a few percent of account-months, so each panel row's outcome is rare."""
    if not ratio > 0 or math.isnan(ratio):
        return float("nan")
    rr = ratio if ratio >= 1 else 1.0 / ratio
    return rr + math.sqrt(rr * (rr - 1.0))


def e_value_of_interval(lower: float, upper: float) -> float:
    """The E-value of the interval's limit nearer 1; 1 when the interval holds 1 (no confounding is needed)."""
    if lower <= 1.0 <= upper:
        return 1.0
    return e_value(lower if lower > 1.0 else upper)


class _FactorFit(NamedTuple):
    """What one factor's fits add to the tables: its stability rows, its notes, its effect rows and its what-if's
    outcome model (None when it has none)."""

    stability: list[dict]
    notes: list[str]
    effects: list[dict]
    outcome: ServiceDrivers | None


class FactorEffects:
    """Fit every service factor's own model. Configure here; fit(con) returns self with effects_ (one row per
    factor term: HR, robust 95% CI, E-values, adjustment set), stability_ (the HR at each step of STEPS),
    models_ (factor -> the what-if's outcome model of that factor, whatif_terms, for each factor a what-if can
    change whose own model was fitted) and notes_."""

    def __init__(self, factors: list[str] | None = None, covariates: list[str] | None = None,
                 max_accounts: int | None = FACTOR_MODEL_ACCOUNTS, sample_seed: int = SAMPLE_SEED,
                 filters: list[str] | None = None, structure: CausalStructure = BUILT_IN,
                 outcome_models: bool = True, cause: str | None = None, stability: bool = True):
        self.factors = factors
        # the estimate at each step of the adjustment set (stability_); without, one fit of the whole set per factor
        self.stability = stability
        # a churn cause: each factor's effect on churn from it alone, the other causes censored
        self.cause = cause
        self.filters = filters or []
        self.structure = structure
        self.outcome_models = outcome_models
        self.covariates = covariates
        self.max_accounts = max_accounts
        self.sample_seed = sample_seed

    def fit(self, con: duckdb.DuckDBPyConnection) -> "FactorEffects":
        reader = ServiceDrivers(factors=[], covariates=self.covariates, max_accounts=self.max_accounts,
                                sample_seed=self.sample_seed, robust=True, filters=self.filters, cause=self.cause)
        panel, kinds, n_accounts, sample = reader.read_panel(con)
        return self.fit_panel(panel, kinds, n_accounts, sample)

    def fit_panel(self, panel: pd.DataFrame, kinds: dict[str, str], n_accounts: int,
                  sample: dict | None = None) -> "FactorEffects":
        covariates = account_covariates(self.covariates, kinds)
        structure = self.structure
        factors = list(self.factors) if self.factors is not None else list(structure.factors)
        structure.check_known(factors)
        effects: list[dict] = []
        stability: list[dict] = []  # each factor's estimate at each step of its adjustment set
        self.models_, self.notes_ = {}, []
        # every model here is fitted on the same rows: transform the panel and build the risk sets once
        every_term = sorted({t for f in factors for t in (*structure.own_model_terms(f),
                                                          *(structure.whatif_terms([f]) if self.outcome_models else ()))})
        full = build_design(panel, every_term, covariates, kinds)
        shared = shared_structures(panel, full)
        if sample is not None:
            self.notes_.append(f"each factor's model is fitted on a random sample of {sample['accounts_fitted']:,} "
                               f"of the {sample['accounts_total']:,} accounts (seed {self.sample_seed})")
        # each factor's steps depend on one another (each starts Newton from the step before), the factors do not:
        # they are fitted side by side, and their rows kept in the factors' order
        fit_factor = partial(self._fit_factor, panel, kinds, n_accounts, covariates, full, shared, sample)
        for factor, fit in zip(factors, map_in_threads(fit_factor, factors)):
            stability.extend(fit.stability)
            self.notes_.extend(fit.notes)
            effects.extend(fit.effects)
            if fit.outcome is not None:
                self.models_[factor] = fit.outcome
        self.effects_ = pd.DataFrame(effects, columns=EFFECT_COLUMNS)
        stability_frame = pd.DataFrame(stability, columns=["factor", "step", "term", "hazard_ratio", "ci_lower",
                                                           "ci_upper", "note"])
        self.stability_ = stability_frame.dropna(subset=["term"]).reset_index(drop=True)
        return self

    def _fit_factor(self, panel, kinds, n_accounts, covariates, full, shared, sample, factor: str) -> "_FactorFit":
        """One factor's own model at each step of its adjustment set, and its what-if's outcome model."""
        structure = self.structure
        stability: list[dict] = []
        notes: list[str] = []
        effects: list[dict] = []
        steps = structure.adjustment_set(factor, covariates)
        terms: list[str] = [factor]
        step_covariates: list[str] = []
        previous: list[dict] = []
        fitted, reason = None, "no usable data"
        start_from: dict[str, float] = {}
        for step in STEPS if self.stability else STEPS[-1:]:
            if not self.stability:  # the whole adjustment set at once
                step_covariates = steps["+ plan and segments"]
                terms = terms + [t for name in STEPS[2:] for t in steps[name] if t not in terms]
            elif step == "+ plan and segments":
                step_covariates = steps[step]
            else:
                terms = terms + [t for t in steps[step] if t not in terms]
            if self.stability and step != STEPS[0] and not steps[step]:
                # nothing added: the same model as the step before
                stability.extend({**row, "step": step} for row in previous)
                continue
            try:
                fitted = self._fit_one(panel, kinds, n_accounts, terms, step_covariates, full, shared,
                                       start_from, sample)
                rows = self._factor_rows(fitted, factor)
                # the next step adds terms to this one: Newton starts from here (same optimum, fewer steps)
                start_from = fitted.model_.params_.to_dict()
            except (ConvergenceError, DriversInputError) as error:
                fitted, previous, reason = None, [], str(error)
                continue
            previous = [{"factor": factor, "step": step, "term": row["term"], "hazard_ratio": row["hazard_ratio"],
                         "ci_lower": row["ci_lower"], "ci_upper": row["ci_upper"], "note": ""} for row in rows]
            if not previous:
                reason = next((d["reason"] for d in fitted.design_.dropped if d["term"] == factor),
                              "the factor has no term in the model")
                fitted = None
            stability.extend(previous)
        if fitted is None:
            return _FactorFit(stability, [f"{label(factor)}: its own model could not be fitted ({reason})"], [], None)
        outcome = None
        if factor in CHANGEABLE and self.outcome_models:
            try:
                # kept for its state and its coefficients only
                outcome = self._fit_one(panel, kinds, n_accounts, structure.whatif_terms([factor]), covariates, full,
                                        shared, fitted.model_.params_.to_dict(), sample).as_stored()
            except (ConvergenceError, DriversInputError) as error:
                notes.append(f"{label(factor)}: the what-if's outcome model could not be fitted ({error})")
        notes.extend(f"{label(factor)}: {term_words(d['term'])} is left out of its own model ({d['reason']})"
                     for d in fitted.design_.dropped if d["reason"].startswith(NOT_ESTIMABLE))
        adjusted_for = structure.describe_adjustment(factor, covariates)
        for row in self._factor_rows(fitted, factor):
            effects.append({**row, "adjusted_for": adjusted_for,
                            "not_adjusted_for": structure.not_adjusted_for(factor),
                            "e_value": e_value(row["hazard_ratio"]),
                            "e_value_ci": e_value_of_interval(row["ci_lower"], row["ci_upper"]),
                            "n_accounts": fitted.n_accounts_, "n_events": int(fitted.model_.n_events_)})
        return _FactorFit(stability, notes, effects, outcome)

    def _fit_one(self, panel, kinds, n_accounts, factors, covariates, full, shared, start_from=None,
                 sample=None) -> ServiceDrivers:
        model = ServiceDrivers(factors=factors, covariates=covariates, max_accounts=None, robust=True,
                               concordance=False, start_from=start_from or None, sample_seed=self.sample_seed,
                               cause=self.cause)
        return model.fit_panel(panel, kinds, n_accounts, sample=sample,
                               design=subset_design(full, factors, covariates, shared["column_checks"]),
                               shared=shared, ph_tests=False)

    @staticmethod
    def _factor_rows(model: ServiceDrivers, factor: str) -> list[dict]:
        """The factor's own terms from a fitted model, with the cluster-robust 95% interval."""
        effects = model.effects_.set_index("term")
        robust = model.model_.robust_variance_matrix_
        rows = []
        for term in model.design_.terms.loc[model.design_.terms.factor == factor, "term"]:
            coef = float(effects.loc[term, "coef"])
            se = math.sqrt(max(float(robust.loc[term, term]), 0.0))
            if not se > 0:
                raise ConvergenceError(f"{term}: no spread left across accounts to estimate an interval from")
            z = coef / se
            rows.append({"factor": factor, "term": term, "label": label(factor),
                         "unit": str(effects.loc[term, "unit"]), "coef": coef, "robust_se": se,
                         "hazard_ratio": math.exp(coef), "ci_lower": math.exp(coef - Z_95 * se),
                         "ci_upper": math.exp(coef + Z_95 * se),
                         "p_value": float(math.erfc(abs(z) / math.sqrt(2.0)))})
        return rows


EFFECT_COLUMNS = ["factor", "term", "label", "unit", "coef", "robust_se", "hazard_ratio", "ci_lower", "ci_upper",
                  "p_value", "adjusted_for", "not_adjusted_for", "e_value", "e_value_ci", "n_accounts", "n_events"]


def store_factor_effects(con: duckdb.DuckDBPyConnection, fitted: FactorEffects | None, error: str | None = None,
                         structure: CausalStructure = BUILT_IN) -> int:
    """Write factor_effects, factor_stability and each factor's model (for the what-if), so the app reads them;
    the causal structure used is recorded either way, for the what-ifs the app runs on this build."""
    for table in ("factor_effects", "factor_stability", "factor_model_state"):
        create_result_table(con, table)
    if fitted is None:
        store_model_info(con, "factor_effects", {"model": "factor_effects", "error": error,
                                                 "causal_structure": structure.as_dict()})
        return 0
    insert_rows(con, "factor_effects", fitted.effects_)
    insert_rows(con, "factor_stability", fitted.stability_)
    for factor, model in fitted.models_.items():
        store_state(con, "factor_model_state_insert", factor=factor, state_json=json.dumps(model.state(), default=float))
    store_model_info(con, "factor_effects", {
        "model": "factor_effects",
        "method": "one Cox model per service factor (time-varying, Efron ties), adjusted for its confounders and "
                  "not for its consequences; 95% intervals cluster-robust by account (Lin & Wei)",
        "causal_structure": fitted.structure.as_dict(),
        "notes": fitted.notes_,
    })
    return len(fitted.effects_)


ORDERING_COLUMNS = ["pair_first", "pair_then", "why", "ordering", "is_structure_used", "factor", "term", "label",
                    "unit", "hazard_ratio", "ci_lower", "ci_upper", "e_value_ci", "adjusted_for"]


def ordering_effects(con: duckdb.DuckDBPyConnection, fitted: FactorEffects) -> pd.DataFrame:
    """For each pair the structure says is uncertain (both_plausible), both factors' own-model effects as the
    structure orders them (from `fitted`) and with the pair reversed (fitted here, with the same accounts and
    covariates): only the two factors' adjustment sets change when their link is reversed."""
    rows = []
    for pair, reversed_structure in fitted.structure.alternatives():
        reversed_fit = FactorEffects(factors=[pair.first, pair.then], covariates=fitted.covariates,
                                     max_accounts=fitted.max_accounts, sample_seed=fitted.sample_seed,
                                     filters=fitted.filters, structure=reversed_structure,
                                     outcome_models=False).fit(con)
        for used, effects, before, after in ((True, fitted.effects_, pair.first, pair.then),
                                             (False, reversed_fit.effects_, pair.then, pair.first)):
            for row in effects[effects.factor.isin([pair.first, pair.then])].itertuples():
                rows.append({"pair_first": pair.first, "pair_then": pair.then, "why": pair.why,
                             "ordering": f"{label(before)} before {label(after)}", "is_structure_used": used,
                             "factor": row.factor, "term": row.term, "label": row.label, "unit": row.unit,
                             "hazard_ratio": row.hazard_ratio, "ci_lower": row.ci_lower, "ci_upper": row.ci_upper,
                             "e_value_ci": row.e_value_ci, "adjusted_for": row.adjusted_for})
    return pd.DataFrame(rows, columns=ORDERING_COLUMNS)


def store_factor_orderings(con: duckdb.DuckDBPyConnection, orderings: pd.DataFrame | None) -> int:
    """Write factor_orderings (empty when the structure names no uncertain pair or the fits failed)."""
    create_result_table(con, "factor_orderings")
    return 0 if orderings is None else insert_rows(con, "factor_orderings", orderings)


def stored_factor_model(con: duckdb.DuckDBPyConnection, factor: str) -> ServiceDrivers | None:
    """The factor's own model as the build stored it, for predictions; None for a build without one."""
    state = read_state(con, "factor_model_state_read", factor=factor)
    return ServiceDrivers.from_state(state) if state is not None else None


def whatif_model(con: duckdb.DuckDBPyConnection, changed: list[str],
                 max_accounts: int | None = FACTOR_MODEL_ACCOUNTS) -> ServiceDrivers:
    """The outcome model a what-if of `changed` uses (whatif_terms of the build's causal structure): the build's
    stored one for one factor, else one fitted here (cluster-robust, on at most max_accounts accounts)."""
    structure = stored_structure(con)
    structure.check_known(changed)
    if len(changed) == 1:
        stored = stored_factor_model(con, changed[0])
        if stored is not None:
            return stored
    return ServiceDrivers(factors=structure.whatif_terms(changed), max_accounts=max_accounts, robust=True,
                          concordance=False).fit(con)


def stored_structure(con: duckdb.DuckDBPyConnection) -> CausalStructure:
    """The causal structure the build's factor models were fitted with."""
    return recorded(read_model_info(con, "factor_effects"))


REVENUE_OUTCOMES = {"expanded": "expansion", "contracted": "contraction"}


REVENUE_EFFECT_COLUMNS = ["factor", "term", "label", "unit", "outcome", "monthly_rate", "effect_pp", "ci_lower_pp",
                          "ci_upper_pp", "n_account_months", "n_accounts", "adjusted_for"]


class FactorRevenueEffects:
    """Each factor's effect on next month's expansion and contraction, with its churn model's adjustment set.

    Among the account-months of accounts that stay, a linear probability model of "MRR rose next month" (and
    of "fell") on the factor and its confounders; the coefficient is the change in that monthly probability,
    in percentage points, per unit of the factor (its churn model's unit). Intervals are cluster-robust by
    account, as for churn. Configure here; fit(con) returns self with effects_."""

    def __init__(self, factors: list[str] | None = None, covariates: list[str] | None = None,
                 max_accounts: int | None = FACTOR_MODEL_ACCOUNTS, sample_seed: int = SAMPLE_SEED,
                 structure: CausalStructure = BUILT_IN):
        self.factors = factors
        self.covariates = covariates
        self.max_accounts = max_accounts
        self.sample_seed = sample_seed
        self.structure = structure

    def fit(self, con: duckdb.DuckDBPyConnection) -> "FactorRevenueEffects":
        kinds = dict(con.execute(query_text("segment_column_kind_pairs")).fetchall())
        covariates = account_covariates(self.covariates, kinds)
        ids = con.execute(query_text("panel_account_ids")).fetchnumpy()["account_id"]
        sample = None if self.max_accounts is None else sample_accounts(ids, self.max_accounts, self.sample_seed)
        # the query reads the list only when sampling; an empty one stands in otherwise, so it always binds
        con.register("revenue_sample_accounts", pd.DataFrame({"account_id": [] if sample is None else sample},
                                                             dtype=object))
        try:
            rows = execute_template(con, "revenue_movement_rows", {"sampled": sample is not None}).df()
        finally:
            con.unregister("revenue_sample_accounts")
        structure = self.structure
        factors = list(self.factors) if self.factors is not None else list(structure.factors)
        effects = []
        full = None if rows.empty else build_design(
            rows, sorted({t for f in factors for t in structure.own_model_terms(f)}), covariates, kinds)
        accounts = None if rows.empty else pd.factorize(rows.account_id)[0]
        for factor in factors:
            if rows.empty:
                break
            assert full is not None  # rows are not empty (the loop stops at the first line when they are)
            design = subset_design(full, structure.own_model_terms(factor), covariates)
            if factor not in set(design.terms.factor):
                continue
            X = np.column_stack([np.ones(len(rows)), design.X.to_numpy()])
            names = ["(intercept)", *design.X.columns]
            for outcome, word in REVENUE_OUTCOMES.items():
                coef, cov = cluster_robust_ols(X, rows[outcome].to_numpy(float), accounts)
                factor_of = dict(zip(design.terms.term, design.terms.factor))
                for position, term in enumerate(names):
                    if factor_of.get(term) != factor:
                        continue
                    se = math.sqrt(max(cov[position, position], 0.0))
                    effects.append({
                        "factor": factor, "term": term, "label": label(factor),
                        "unit": design.terms.set_index("term").loc[term, "unit"], "outcome": word,
                        "monthly_rate": float(rows[outcome].mean()), "effect_pp": 100 * coef[position],
                        "ci_lower_pp": 100 * (coef[position] - Z_95 * se),
                        "ci_upper_pp": 100 * (coef[position] + Z_95 * se),
                        "n_account_months": int(len(rows)), "n_accounts": int(rows.account_id.nunique()),
                        "adjusted_for": structure.describe_adjustment(factor, covariates)})
        self.effects_ = pd.DataFrame(effects, columns=REVENUE_EFFECT_COLUMNS)
        self.sampled_ = sample is not None
        return self


def cluster_robust_ols(X: np.ndarray, y: np.ndarray, cluster) -> tuple[np.ndarray, np.ndarray]:
    """Least squares with a covariance clustered by `cluster` (the sandwich with the CR1 small-sample factor),
    so an account's months count as one account's evidence, not as independent rows."""
    bread = np.linalg.pinv(X.T @ X)
    coef = bread @ (X.T @ y)
    residual = y - X @ coef
    cluster = np.asarray(cluster)
    codes = cluster if np.issubdtype(cluster.dtype, np.integer) else pd.factorize(cluster)[0]
    n_clusters = int(codes.max()) + 1
    scores = np.column_stack([np.bincount(codes, weights=X[:, j] * residual, minlength=n_clusters)
                              for j in range(X.shape[1])])
    n, k = X.shape
    correction = n_clusters / max(n_clusters - 1, 1) * (n - 1) / max(n - k, 1)
    return coef, correction * bread @ (scores.T @ scores) @ bread


def store_factor_revenue_effects(con: duckdb.DuckDBPyConnection, fitted: FactorRevenueEffects | None) -> int:
    """Write factor_revenue_effects (empty when they could not be estimated), for the drivers page."""
    create_result_table(con, "factor_revenue_effects")
    return 0 if fitted is None else insert_rows(con, "factor_revenue_effects", fitted.effects_)
