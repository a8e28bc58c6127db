"""Service-quality drivers of churn: a Cox model with time-varying covariates on the account_months panel.

Each month's trailing 90-day service measures (known before the month started) explain churn in that
month. Every factor is put on a scale a support leader reads (per doubling of a time, per +10
percentage points of a rate, per point of CSAT lower), so a hazard ratio of 1.25 means "25% higher
churn risk per doubling", an association, not proof of cause.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

import duckdb
import numpy as np
import pandas as pd

from .coxph import ConvergenceError, StandardisedColumns, StoredCox, TimeVaryingCox, model_state, risk_sets
from .factors import FACTORS, FACTORS_BY_NAME, PILLAR_ORDER, term_words
from .store import create_result_table, read_state, store_model_info, store_state
from ..errors import RetentionError
from ..filters import filter_predicate, filterable_columns, parse_filters
from ..sqlrun import TrustedSql, execute_template, insert_rows, query_text, quote_ident
from ..settings import DEFAULT_DRIVERS_SAMPLE, SAMPLE_SEED

RETRY_PENALIZER = 0.01
PH_ALPHA = 0.01  # a term whose proportional-hazards test has p below this is flagged


class DriversInputError(RetentionError, ValueError):
    """A factor or covariate the user named cannot be used; the message lists the valid ones."""


def account_covariates(named: list[str] | None, kinds: dict[str, str], include_plan: bool = True) -> list[str]:
    """The account columns a model adjusts for: those named, else plan when the build has it; checked by name."""
    covariates = list(named) if named is not None else (["plan"] if include_plan and "plan" in kinds else [])
    unknown = [c for c in covariates if c not in kinds]
    if unknown:
        raise DriversInputError(f"unknown covariate {unknown}; account columns are {sorted(kinds)}")
    return covariates


@dataclass
class Design:
    """The covariate matrix with its terms described, and every term left out with the reason."""

    X: pd.DataFrame
    terms: pd.DataFrame  # term, factor, pillar, unit
    dropped: list[dict] = field(default_factory=list)
    imputed: list[dict] = field(default_factory=list)


def panel_rows(con: duckdb.DuckDBPyConnection, segment_columns: list[str], for_fit: bool = False,
               with_account: bool = False, account_ids: np.ndarray | None = None,
               cause: str | None = None, with_causes: bool = False) -> pd.DataFrame:
    """The panel columns a fit needs, of every account or of `account_ids`; segment names come from the build's
    allow-list, quoted. for_fit leaves out the row's account_id, month_start and mrr, which the fit does not
    read: turning 100,000s of id strings and dates into Python objects is about a third of the read.

    With a `cause`, `churned` marks only the churns that count under it (`events_of_cause`); with_causes keeps the
    churn row's cause in a column instead, for models of several causes from one read."""
    names = (["account_id"] if with_account and for_fit else []) + ([] if for_fit else ["account_id", "month_start"])
    names += ["start_day", "stop_day", "churned"] + ([] if cause is None and not with_causes else ["churn_cause"])
    names += ([] if for_fit else ["mrr"]) + sorted({f.column for f in FACTORS}) + list(segment_columns)
    columns = TrustedSql(", ".join(quote_ident(name) for name in names))
    if account_ids is None:
        panel = execute_template(con, "panel_rows", columns=columns).df()
    else:
        con.register("panel_accounts", pd.DataFrame({"account_id": account_ids}))
        try:
            panel = execute_template(con, "panel_rows_of_accounts", columns=columns).df()
        finally:
            con.unregister("panel_accounts")
    return events_of_cause(panel, cause) if cause is not None and not with_causes else panel


def events_of_cause(panel: pd.DataFrame, cause: str) -> pd.DataFrame:
    """Panel rows read with their churn causes, as a model of churn from `cause` reads them: `churned` marks only
    the churns that count under it, and a churn from another cause ends the account's rows as a censoring does (the
    cause-specific hazard). A new frame; the columns other than churned are shared, not copied."""
    churned = (panel.churned.to_numpy() == 1) & (panel.churn_cause.to_numpy() == cause)
    return panel.drop(columns="churn_cause").assign(churned=churned.astype(np.int32))


# the level of a categorical covariate's rows without a value: a level of its own, as any other
MISSING_LEVEL = "(missing)"


def category_levels(values: pd.Series) -> pd.Series:
    """A categorical covariate's rows as the levels its terms name: text, MISSING_LEVEL for those without a value."""
    return values.astype("string").fillna(MISSING_LEVEL)


def category_codes(levels: pd.Series) -> tuple[np.ndarray, dict[str, int]]:
    """The rows' levels (category_levels) as integer codes, and each level's code: an indicator of a level is then an
    integer comparison, where comparing the text of every row once per level is most of the cost of a design at a
    million accounts."""
    codes, uniques = pd.factorize(levels)
    return codes, {str(level): code for code, level in enumerate(uniques)}


def build_design(panel: pd.DataFrame, factors: list[str], covariates: list[str], kinds: dict[str, str]) -> Design:
    """Turn panel columns into model terms: transform, impute + flag missing, one-hot categories, drop the unusable."""
    columns: dict[str, pd.Series] = {}
    described: list[dict] = []
    dropped: list[dict] = []
    imputed: list[dict] = []
    missing_masks: dict[bytes, tuple[np.ndarray, list[str]]] = {}

    def add_missing(name: str, mask: np.ndarray) -> None:
        key = np.packbits(mask).tobytes()
        if key in missing_masks:
            missing_masks[key][1].append(name)
        else:
            missing_masks[key] = (mask, [name])

    for name in factors:
        factor = FACTORS_BY_NAME[name]
        raw = panel[factor.column]
        if raw.isna().all():
            dropped.append({"term": name, "reason": "not available: the input has no data for it"})
            continue
        mask = raw.isna().to_numpy()
        for term in factor.terms:
            values = term.transform(raw.astype(float))
            if mask.any():
                fill = float(np.nanmedian(values[~mask]))
                values = values.fillna(fill)
                imputed.append({"term": term.name, "rows_imputed": int(mask.sum()), "imputed_value": fill})
            columns[term.name] = values.astype(float)
            described.append({"term": term.name, "factor": factor.name, "level": term.label,
                              "pillar": factor.pillar, "unit": factor.unit})
        if mask.any() and factor.missing_indicator:
            add_missing(factor.name, mask)

    for name in covariates:
        raw = panel[name]
        if kinds.get(name) == "numeric":
            values = raw.astype(float)
            mask = values.isna().to_numpy()
            if mask.all():
                dropped.append({"term": name, "reason": "no values"})
                continue
            if mask.any():
                fill = float(values[~mask].median())
                imputed.append({"term": name, "rows_imputed": int(mask.sum()), "imputed_value": fill})
                values = values.fillna(fill)
                add_missing(name, mask)
            columns[name] = values
            described.append({"term": name, "factor": name, "level": "", "pillar": "account", "unit": "per unit"})
        else:
            levels = category_levels(raw)
            counts = levels.value_counts()
            reference = counts.index[0]
            codes, code_of = category_codes(levels)
            for level in counts.index[1:]:
                level_term = f"{name}={level}"
                columns[level_term] = pd.Series((codes == code_of[str(level)]).astype(float), index=panel.index)
                described.append({"term": level_term, "factor": name, "level": str(level), "pillar": "account",
                                  "unit": f"vs {name}={reference} (the most common)"})

    for mask, names in missing_masks.values():
        missing_term = "missing: " + ", ".join(names)
        columns[missing_term] = pd.Series(mask.astype(float), index=panel.index)
        described.append({"term": missing_term, "factor": missing_term, "level": "", "pillar": "missing indicator",
                          "unit": "no eligible interactions in 90 days vs some (the measure was imputed)"})

    X = pd.DataFrame(columns, index=panel.index)
    terms = pd.DataFrame(described, columns=["term", "factor", "level", "pillar", "unit"])
    X, terms, more_dropped = _drop_unusable(X, terms)
    return Design(X=X, terms=terms, dropped=dropped + more_dropped, imputed=imputed)


def subset_design(full: Design, factors: list[str], covariates: list[str],
                  checks: "ColumnChecks | None" = None) -> Design:
    """The design of a model of some of `full`'s factors and covariates, without transforming the panel again:
    their terms, and each missing indicator that names one of them (the same rows, whichever others share it).
    `checks` (of `full`'s columns, from `shared_structures`) saves reading the rows again to find the unusable."""
    wanted = set(factors) | set(covariates)

    def keep(factor: str) -> bool:
        if factor.startswith("missing: "):
            return bool(wanted & set(factor.removeprefix("missing: ").split(", ")))
        return factor in wanted

    terms = full.terms.loc[full.terms.factor.map(keep).astype(bool)].reset_index(drop=True)
    X, terms, dropped = _drop_unusable(full.X[list(terms.term)], terms, checks)
    named = {t for f in wanted for t in (f, *(term.name for term in getattr(FACTORS_BY_NAME.get(f), "terms", ())))}
    return Design(X=X, terms=terms,
                  dropped=[d for d in full.dropped if d["term"] in named] + dropped,
                  imputed=[i for i in full.imputed if i["term"] in named])


def shared_structures(panel: pd.DataFrame, design: Design | None = None) -> dict:
    """What every model on these panel rows shares: the risk sets and the integer code of each row's account; with
    the `design` every model's terms come from (`subset_design`), its columns standardised once (a fit takes its
    own) and the checks of its columns."""
    shared = {"risk_sets": risk_sets(panel.start_day, panel.stop_day, panel.churned),
              "account_codes": pd.factorize(panel.account_id)[0] if "account_id" in panel else None}
    if design is not None:
        shared["standardised"] = StandardisedColumns(design.X.to_numpy(), list(design.X.columns))
        shared["column_checks"] = ColumnChecks(design.X, panel.churned.to_numpy())
    return shared


def _correlation(values: np.ndarray, usable: list[int], spread: np.ndarray) -> np.ndarray:
    """The correlation matrix of the `usable` columns (those with spread): the k×k matrix the checks read."""
    # one copy, standardised in place (the same arithmetic as (v - mean) / spread, without two more n×k arrays)
    standardised = values[:, usable]
    standardised -= standardised.mean(axis=0)
    standardised /= spread[usable]
    return standardised.T @ standardised / max(len(values), 1)


class ColumnChecks:
    """What the checks of a model's terms read of a design's columns, computed once over the rows for the many models
    of some of its columns: each column's spread and the correlations of the columns with spread (for
    `_drop_unusable`), and for the 0/1 columns the rows and churns each marks, alone and with each other (for
    `drop_inestimable`; counts, so exactly those a subset's own would give)."""

    def __init__(self, X: pd.DataFrame, churned: np.ndarray):
        values = X.to_numpy(dtype=float)
        self.position = {name: i for i, name in enumerate(X.columns)}
        self.spread = values.std(axis=0) if len(values) else np.zeros(values.shape[1])
        usable = [i for i in range(values.shape[1]) if self.spread[i] > 0]
        self.correlation_position = {column: i for i, column in enumerate(usable)}
        self.correlation = _correlation(values, usable, self.spread)
        self.is_binary = np.array([bool(np.all((values[:, j] == 0) | (values[:, j] == 1)))
                                   for j in range(values.shape[1])], dtype=bool)
        churned = np.asarray(churned, dtype=bool)
        self.binary_position = {int(column): i for i, column in enumerate(np.flatnonzero(self.is_binary))}
        marks = values[:, self.is_binary]
        self.rows = marks.sum(axis=0)
        self.churns = marks[churned].sum(axis=0)
        self.both = marks.T @ marks  # rows marked by both terms of a pair
        self.churns_both = marks[churned].T @ marks[churned]

    def columns(self, names) -> list[int]:
        return [self.position[name] for name in names]


def _drop_unusable(X: pd.DataFrame, terms: pd.DataFrame,
                   checks: ColumnChecks | None = None) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """Drop constant terms, then any term that adds no rank (collinear with the ones before it).

    Works on the k×k correlation matrix, so the check costs one pass over the rows whatever k is (none with
    `checks`, which hold the correlations of a design X's columns come from): a term's variance left after
    regressing it on the kept terms is 1 − c'C⁻¹c for standardised columns."""
    dropped = []
    if checks is None:
        values = X.to_numpy(dtype=float)
        spread = values.std(axis=0) if len(values) else np.zeros(values.shape[1])
    else:
        spread = checks.spread[checks.columns(X.columns)]
    usable = [i for i in range(X.shape[1]) if spread[i] > 0]
    for i in range(X.shape[1]):
        if spread[i] == 0:
            dropped.append({"term": X.columns[i], "reason": "constant in the data: nothing to compare"})
    if checks is None:
        correlation = _correlation(values, usable, spread)
    else:
        at = [checks.correlation_position[checks.position[X.columns[i]]] for i in usable]
        correlation = checks.correlation[np.ix_(at, at)]
    keep: list[int] = []
    for position, column in enumerate(usable):
        if keep:
            c = correlation[np.ix_(keep, [position])]
            coef, *_ = np.linalg.lstsq(correlation[np.ix_(keep, keep)], c, rcond=None)
            residual = correlation[position, position] - float(c[:, 0] @ coef[:, 0])
            if residual < 1e-8:
                dropped.append({"term": X.columns[column],
                                "reason": "collinear with other terms (carries no separate information)"})
                continue
        keep.append(position)
    kept = [X.columns[usable[p]] for p in keep]
    # constant terms were listed first above; report drops in the design's order
    order = {name: i for i, name in enumerate(X.columns)}
    dropped.sort(key=lambda d: order[d["term"]])
    if len(kept) == X.shape[1]:  # the usual case: no copy of the n×k matrix
        return X, terms, dropped
    return X[kept], terms[terms.term.isin(kept)].reset_index(drop=True), dropped


# how a term left out by drop_inestimable is described (the pages and notes show the reason as written)
NOT_ESTIMABLE = "not estimable"


def _rows_with(term: str) -> str:
    """The rows a 0/1 term marks, in words: "plan=Legacy", "csat missing"."""
    return f"{term.removeprefix('missing: ')} missing" if term.startswith("missing: ") else term


def drop_inestimable(design: Design, churned, checks: ColumnChecks | None = None) -> Design:
    """The design without the 0/1 terms whose Cox partial likelihood has no finite maximum, each named in
    `dropped` with the rows that make it so.

    A 0/1 term with no churn among the rows it marks (or every churn among them) has a score of one sign
    at every coefficient, so Newton walks off towards minus (plus) infinity and stops where the likelihood
    is flat: a hazard ratio near 0 with an interval to infinity, which means nothing, and whose last digits
    move the terms correlated with it. The same holds for a 0/1 term that contains another (every row the
    second marks, the first marks too) when the rows the first marks and the second does not have no
    churn: the difference of the two is such a term, so the later of the two in the design is left out.
    Decided from the data before fitting, in the design's order, so it never depends
    on where an optimiser stopped. `checks`: the counts of the design's columns on these rows and churns, from
    `shared_structures`, instead of counting again."""
    X = design.X
    churned = np.asarray(churned, dtype=bool)
    if checks is None:
        binary = [c for c in X.columns if np.all((X[c].to_numpy() == 0) | (X[c].to_numpy() == 1))]
    else:
        binary = [c for c in X.columns if checks.is_binary[checks.position[c]]]
    if not binary:
        return design
    if checks is None:
        marks = X[binary].to_numpy(dtype=float)
        rows = marks.sum(axis=0)
        churns = marks[churned].sum(axis=0)
        both = marks.T @ marks  # rows marked by both terms of a pair
        churns_both = marks[churned].T @ marks[churned]
    else:
        at = [checks.binary_position[checks.position[c]] for c in binary]
        rows, churns = checks.rows[at], checks.churns[at]
        both, churns_both = checks.both[np.ix_(at, at)], checks.churns_both[np.ix_(at, at)]
    n_rows, n_churns = len(X), int(churned.sum())
    dropped: list[dict] = []
    kept: list[int] = []
    for j, term in enumerate(binary):
        reason = None
        if churns[j] == 0:
            reason = f"no churns among the {int(rows[j]):,} account-months with {_rows_with(term)}"
        elif churns[j] == n_churns:
            reason = (f"every churn is among the {int(rows[j]):,} account-months with {_rows_with(term)}, none "
                      f"among the other {n_rows - int(rows[j]):,}")
        for i in kept if reason is None else ():
            # one term contains the other (all of the smaller's rows are the larger's) and the rows between
            # them have no churn: the later term in the design is left out
            larger, smaller = (i, j) if rows[i] > rows[j] else (j, i)
            if both[i, j] == rows[smaller] < rows[larger] and churns[larger] == churns_both[i, j]:
                reason = (f"no churns among the {int(rows[larger] - rows[smaller]):,} account-months with "
                          f"{_rows_with(binary[larger])} but not {_rows_with(binary[smaller])}, so it cannot be "
                          f"told apart from {binary[i]}")
                break
        if reason is None:
            kept.append(j)
        else:
            dropped.append({"term": term, "reason": f"{NOT_ESTIMABLE}: {reason}"})
    if not dropped:
        return design
    gone = [d["term"] for d in dropped]
    return Design(X=X.drop(columns=gone), terms=design.terms[~design.terms.term.isin(gone)].reset_index(drop=True),
                  dropped=design.dropped + dropped, imputed=design.imputed)


def _effects_table(model: TimeVaryingCox, design: Design, ph: pd.DataFrame) -> pd.DataFrame:
    """One row per term: its factor, pillar and unit, the hazard ratio with its model-based 95% interval and the
    proportional-hazards test, in pillar order."""
    summary = model.summary
    effects = design.terms.merge(
        pd.DataFrame({
            "term": summary.index,
            "coef": summary["coef"].to_numpy(),
            "se": summary["se(coef)"].to_numpy(),
            "hazard_ratio": summary["exp(coef)"].to_numpy(),
            "ci_lower": summary["exp(coef) lower 95%"].to_numpy(),
            "ci_upper": summary["exp(coef) upper 95%"].to_numpy(),
            "p_value": summary["p"].to_numpy(),
        }),
        on="term",
    ).merge(ph, on="term")
    effects["ph_violated"] = effects.ph_p_value < PH_ALPHA
    order = {p: i for i, p in enumerate(PILLAR_ORDER)}
    return effects.sort_values(by="pillar", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def sample_accounts(ids, n: int, seed: int) -> np.ndarray | None:
    """A seeded random sample of n of the account ids, in id order; None when there are n or fewer.

    The ids are sorted first, so the sample depends on the seed and the accounts, not on the scan order."""
    ids = np.asarray(ids)
    if len(ids) <= n:
        return None
    ids = np.sort(ids.astype(str))
    return ids[np.sort(np.random.default_rng(seed).choice(len(ids), size=n, replace=False))]


class ServiceDrivers:
    """Fit the drivers model. Configure here; fit(con) returns self with effects_ and model_info_."""

    def __init__(self, factors: list[str] | None = None, covariates: list[str] | None = None,
                 filters: list[str] | None = None, include_plan: bool = True,
                 max_accounts: int | None = DEFAULT_DRIVERS_SAMPLE, sample_seed: int = SAMPLE_SEED,
                 concordance: bool = True, start_from: dict[str, float] | None = None, robust: bool = False,
                 cause: str | None = None):
        self.factors = factors
        # a churn cause (voluntary, involuntary, ...): the model of churn from it alone, the other causes censored
        self.cause = cause
        self.covariates = covariates
        self.filters = filters or []
        self.include_plan = include_plan
        # above this many accounts, fit on a seeded random sample of them (all of their months); None: all
        self.max_accounts = max_accounts
        self.sample_seed = sample_seed
        self.concordance = concordance  # in-sample C; a refit that is only used for predictions can skip it
        # coefficients by term to start Newton from (e.g. the build's fit when refitting a filtered subset);
        # terms it lacks start at 0. The likelihood is concave, so the fit reaches the same optimum, in fewer steps
        self.start_from = start_from
        # also a covariance clustered by account that holds when the model is not exactly right (robust_variance)
        self.robust = robust

    def read_panel(self, con: duckdb.DuckDBPyConnection,
                   with_causes: bool = False) -> tuple[pd.DataFrame, dict, int, dict | None]:
        """The panel rows the fit uses (filtered and sampled as configured), the segment kinds, the number of
        accounts and the sample drawn (None: every account). with_causes: with each churn row's cause, for the
        models of each cause to share one read (`events_of_cause`)."""
        kinds = dict(con.execute(query_text("segment_column_kind_pairs")).fetchall())
        covariates = self.covariates_for(kinds)
        if self.filters:
            # filters select accounts (all of their months), by the same allow-list as the survival curves
            predicate, params = filter_predicate(parse_filters(self.filters, filterable_columns(con)))
            ids = execute_template(con, "panel_account_ids_filtered", params, predicate=predicate).fetchnumpy()
        else:
            ids = con.execute(query_text("panel_account_ids")).fetchnumpy()
        ids = ids["account_id"]
        n_accounts, sample = self._sample(ids)
        chosen = sample["account_ids"] if sample is not None else ids if self.filters else None
        panel = panel_rows(con, sorted(kinds) if self.robust else covariates, for_fit=True,
                           with_account=self.robust, account_ids=chosen, cause=self.cause, with_causes=with_causes)
        return panel, kinds, n_accounts, sample

    def covariates_for(self, kinds: dict[str, str]) -> list[str]:
        """The account columns this model adjusts for, given the build's segment kinds."""
        return account_covariates(self.covariates, kinds, self.include_plan)

    def fit(self, con: duckdb.DuckDBPyConnection) -> "ServiceDrivers":
        self.factor_names()
        return self.fit_panel(*self.read_panel(con))

    def factor_names(self) -> list[str]:
        """The factors this model is configured with (every factor when none were named), checked by name."""
        factors = list(self.factors) if self.factors is not None else [f.name for f in FACTORS]
        unknown = [f for f in factors if f not in FACTORS_BY_NAME]
        if unknown:
            raise DriversInputError(f"unknown factor {unknown}; choose from {[f.name for f in FACTORS]}")
        return factors

    def fit_panel(self, panel: pd.DataFrame, kinds: dict[str, str], n_accounts: int,
                  sample: dict | None = None, design: Design | None = None, shared: dict | None = None,
                  ph_tests: bool = True) -> "ServiceDrivers":
        """Fit on panel rows already read (`read_panel`); several models with different terms can share one read.

        `design` (from `subset_design`) and `shared` (the rows' risk sets and integer account codes, from
        `shared_structures`) let many models on the same rows skip rebuilding what they have in common."""
        factors = self.factor_names()
        covariates = self.covariates_for(kinds)
        if self.robust and "account_id" not in panel:
            raise DriversInputError("a robust fit needs the panel's account_id (read it with robust=True)")
        if panel.empty:
            raise DriversInputError("no account-months match the filters")
        if int(panel.churned.sum()) == 0:
            churn = "churn" if self.cause is None else f"{self.cause} churn"
            raise DriversInputError(f"no {churn} among these accounts yet: the drivers model needs churned accounts "
                                    "to compare with")
        self.n_accounts_ = n_accounts
        self.sampled_account_ids_ = None if sample is None else sample["account_ids"]
        shared = shared or {}
        design = drop_inestimable(design if design is not None else build_design(panel, factors, covariates, kinds),
                                  panel.churned.to_numpy(), shared.get("column_checks"))
        notes = []
        if sample is not None:
            notes.append(f"fitted on a random sample of {sample['accounts_fitted']:,} of the "
                         f"{sample['accounts_total']:,} accounts (all of their months; seed {self.sample_seed}), "
                         "so the fit takes seconds at any size; its intervals are those of the sample, wider than "
                         "a fit on every account would give")
        if design.X.shape[1] == 0:
            raise DriversInputError("no usable terms: every factor and covariate was dropped "
                                    + "; ".join(f"{d['term']}: {d['reason']}" for d in design.dropped))
        model, penalizer, initial = self._fit_cox(panel, design, shared, notes)
        effects = _effects_table(model, design, model.proportional_hazards_tests(design.X.to_numpy()) if ph_tests
                                 else pd.DataFrame({"term": model.names_, "ph_test_statistic": np.nan,
                                                    "ph_p_value": np.nan}))
        violated = effects.loc[effects.ph_violated, "term"].tolist()
        if violated:
            notes.append("proportional hazards is doubtful for " + ", ".join(term_words(t) for t in violated)
                         + f" (Schoenfeld test against log time, p < {PH_ALPHA}): their hazard ratio is an "
                         "average over tenure and may differ early and late")
        self.model_ = model
        self.design_ = design
        self.effects_ = effects
        self.model_info_ = {
            "model": "service_drivers",
            "method": "Cox proportional hazards, time-varying covariates (account-month panel), Efron ties"
                      + ("" if self.cause is None else f"; churn from the {self.cause} cause, the other causes "
                         "censored (the cause-specific hazard)"),
            "churn_cause": self.cause,
            "n_accounts": self.n_accounts_,
            "n_account_months": int(len(panel)),
            "n_events": int(model.n_events_),
            "concordance": model.concordance() if self.concordance else None,
            "sample": {k: v for k, v in sample.items() if k != "account_ids"} if sample is not None else None,
            "converged": True,
            "penalizer": penalizer,
            "iterations": model.iterations_,
            "warm_start": initial is not None and not penalizer,
            "log_likelihood": model.log_likelihood_,
            "filters": list(self.filters),
            "dropped_terms": design.dropped,
            "imputed_terms": design.imputed,
            "notes": notes,
            "fitted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        return self

    def _fit_cox(self, panel: pd.DataFrame, design: Design, shared: dict, notes: list[str]):
        """The Cox fit on the design (retried with a small penalty when Newton does not converge), with the
        cluster-robust covariance when asked: (model, penalizer, initial coefficients)."""
        # the design's columns come standardised when the models on these rows share them (shared_structures)
        standardised = shared.get("standardised")
        X = design.X.to_numpy() if standardised is None else None
        initial = None if not self.start_from else [float(self.start_from.get(t, 0.0)) for t in design.X.columns]
        penalizer = 0.0
        try:
            model = TimeVaryingCox().fit(panel.start_day, panel.stop_day, panel.churned, X, list(design.X.columns),
                                         initial=initial, risk_sets=shared.get("risk_sets"),
                                         standardised=standardised)
        except ConvergenceError as exc:
            penalizer = RETRY_PENALIZER
            notes.append(f"the unpenalised fit did not converge ({exc}); refitted with a small L2 penalizer "
                         f"({RETRY_PENALIZER}), which shrinks effects slightly toward no effect")
            try:
                model = TimeVaryingCox(penalizer=penalizer).fit(panel.start_day, panel.stop_day, panel.churned,
                                                               design.X.to_numpy(), list(design.X.columns))
            except ConvergenceError as retry:
                raise DriversInputError(
                    f"the drivers model cannot be fitted on these {'filtered accounts' if self.filters else 'accounts'}: it did not converge, even "
                    f"with a small penalty ({retry}); usually too few churns for its terms, or a term that alone "
                    "separates the accounts that churned") from retry
        if self.robust:
            codes = shared.get("account_codes")
            model.robust_variance_matrix_ = model.robust_variance(
                codes if codes is not None else panel.account_id.to_numpy())
        return model, penalizer, initial

    def _sample(self, ids: np.ndarray) -> tuple[int, dict | None]:
        """The number of accounts fitted, and the sample of `ids` (the accounts with a panel row) to fit on when
        there are more than max_accounts (None: fit on all)."""
        if self.max_accounts is None:
            return int(len(ids)), None
        if self.max_accounts < 1:
            raise DriversInputError(f"max_accounts={self.max_accounts}: give at least 1, or None for every account")
        chosen = sample_accounts(ids, self.max_accounts, self.sample_seed)
        if chosen is None:
            return int(len(ids)), None
        return int(self.max_accounts), {"accounts_total": int(len(ids)), "accounts_fitted": int(self.max_accounts),
                                        "seed": int(self.sample_seed), "account_ids": chosen}

    def state(self) -> dict:
        """The fitted model and its design, as stored by the build (see `from_state`)."""

        return {
            "model": model_state(self.model_),
            "terms": self.design_.terms.to_dict("records"),
            "imputed": self.design_.imputed,
            "dropped": self.design_.dropped,
            "factors": self.factors,
            "covariates": self.covariates,
            "include_plan": self.include_plan,
            "cause": self.cause,
            "model_info": self.model_info_,
        }

    def as_stored(self) -> "ServiceDrivers":
        """This fitted model as the build stores it and the app reads it (`from_state`), with its effects table: the
        coefficients, covariance and baseline, without the copy of the rows it was fitted on, which a caller that
        only stores and predicts need not hold (at a million accounts, a large share of the models' memory)."""
        stored = type(self).from_state(self.state())
        stored.effects_ = self.effects_
        return stored

    @classmethod
    def from_state(cls, state: dict) -> "ServiceDrivers":
        """A fitted model restored from the build, for predictions (what-if, risk); no refit, no data rows."""

        drivers = cls(factors=state["factors"], covariates=state["covariates"], include_plan=state["include_plan"],
                      cause=state["cause"])
        drivers.model_ = StoredCox(state["model"])
        terms = pd.DataFrame(state["terms"], columns=["term", "factor", "level", "pillar", "unit"])
        drivers.design_ = Design(X=pd.DataFrame(columns=terms.term), terms=terms, dropped=state["dropped"],
                                 imputed=state["imputed"])
        drivers.model_info_ = state["model_info"]
        drivers.n_accounts_ = drivers.model_info_["n_accounts"]  # every stored model_info has it (fit)
        return drivers

    @classmethod
    def from_database(cls, con: duckdb.DuckDBPyConnection) -> "ServiceDrivers | None":
        """The model the build fitted and stored, or None for a build without one."""
        state = read_state(con, "driver_model_state_read")
        return cls.from_state(state) if state is not None else None

    def to_json_dict(self) -> dict:
        columns = ["factor", "level", "term", "pillar", "unit", "hazard_ratio", "ci_lower", "ci_upper", "p_value",
                   "ph_p_value", "ph_violated"]
        return {"effects": json.loads(self.effects_[columns].to_json(orient="records")), "model": self.model_info_}


EFFECT_COLUMNS = ["term", "factor", "level", "pillar", "unit", "coef", "se", "hazard_ratio", "ci_lower", "ci_upper",
                  "p_value", "ph_test_statistic", "ph_p_value", "ph_violated"]


def store_drivers(con: duckdb.DuckDBPyConnection, drivers: ServiceDrivers | None, error: str | None = None) -> int:
    """Write driver_effects and model_info so the dashboard reads results instead of refitting.

    A fit that could not be made (no churn yet, no usable terms) stores an empty driver_effects and
    the reason in model_info, so the app can say why instead of failing."""
    create_result_table(con, "driver_effects")
    create_result_table(con, "driver_model_state")
    if drivers is None:
        store_model_info(con, "service_drivers", {"model": "service_drivers", "error": error})
        return 0
    insert_rows(con, "driver_effects", drivers.effects_[EFFECT_COLUMNS])
    store_model_info(con, "service_drivers", drivers.model_info_)
    # the fitted model itself, so the app's what-if and risk views predict without refitting
    store_state(con, "driver_model_state_insert", state_json=json.dumps(drivers.state(), default=float))
    return len(drivers.effects_)
