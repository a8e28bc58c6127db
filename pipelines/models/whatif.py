"""What-if: how many accounts and how much ARR a change in service would keep over a horizon.

Owns the `retention whatif` command and the `WhatIf` model. For the accounts active at as-of, each
account's churn probability over the horizon is computed twice from a Cox model of the panel, under
today's measures and under the changed ones (see `risk` for the formula and the baseline hazard):

    P = 1 - exp(-(H0(τ + h) - H0(τ)) · exp(lp))

Expected churned accounts are Σ P, lost ARR Σ P · 12 · MRR; what a change keeps is baseline minus
scenario: a standardisation (the parametric g-formula for a shifted exposure). The model is the changed
factor's outcome model (`factor_effects.whatif_terms`): every predictor of churn the change cannot move, so each
account's absolute risk is right, and none of the factor's consequences, so an SLA breach or a bad interaction
that a faster first response would avoid is part of the change's effect, not held at today's value. The 95%
interval comes from draws of β from the cluster-robust covariance (clustered by account, valid when the model
is not exactly right), the baseline hazard moving with each draw and carrying its own sampling error
(`risk.BaselineHazard`), percentile interval of the differences. The tail past the longest observed tenure is
not identified: the answer is also given with its hazard halved and doubled (`tail_sensitivity_`).

A change is applied to the raw measure (a median first response halved, a breach rate 5 points lower,
clipped to its range), then the model's own transform, so -50% on a time is exactly one doubling step.
For a change of first response, the SLA breaches and bad interactions it implies are recomputed from the
tickets against each one's severity target and reported beside the estimate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import duckdb
import numpy as np
import pandas as pd

from ..errors import RetentionError
from ..settings import WHATIF_DRAW_ACCOUNTS, WHATIF_DRAWS, WHATIF_HORIZON_DAYS
from ..sqlrun import TrustedSql, execute_template, quote_ident, run_query, sql_text
from .drivers import ServiceDrivers
from .factors import CHANGEABLE, FACTORS_BY_NAME
from .factor_effects import label, stored_structure, whatif_model
from .risk import (BaselineHazard, churn_probability, churn_probability_at_risk, current_rows, design_matrix,
                   max_tenure_days, relative_risk)

# the number of account × draw cells in one step of the draws: small temporaries the allocator reuses from step
# to step; one temporary of every account × every draw costs more in page faults and cache misses than in
# arithmetic
CELLS_PER_BATCH = 1_000_000
# the revenue kept is integrated over the horizon on steps of this many days (the trapezoid rule)
REVENUE_STEP_DAYS = 7
DAYS_PER_MONTH = 365.25 / 12
# The tail's hazard (past the longest tenure observed) is not identified by the data: the answer is shown again
# with it halved and doubled, so a reader sees how much rests on it.
TAIL_SCALES = (0.5, 2.0)
# A what-if whose changed values fall outside the data for more than this share of the accounts says so.
OVERLAP_WARN_SHARE = 0.2
# Case-mix bands of the overlap check (both shares): below the first edge, below the second, the rest.
OVERLAP_BAND_EDGES = (0.2, 0.5)
CHANGE_PATTERN = re.compile(r"^([+-]?)(\d+(?:\.\d*)?|\.\d+)\s*(%|pp)?$")


class Interval(TypedDict):
    estimate: float
    ci_lower: float
    ci_upper: float


class Expected(TypedDict):
    """What the accounts are expected to lose over the horizon, today or with the change."""
    expected_churned_accounts: float
    expected_lost_arr: float


class TailAnswer(TypedDict):
    """The answer again with the tail's hazard scaled by tail_scale."""
    tail_scale: float
    expected_churned_accounts: float
    accounts_kept: float
    arr_kept: float


class WhatIfResult(TypedDict):
    """`WhatIf.result_`: the estimates with their intervals (the shape of the JSON output's first keys)."""
    accounts_kept: Interval
    arr_kept: Interval
    baseline: Expected
    scenario: Expected
    tail_sensitivity: list[TailAnswer]
    revenue_kept: dict[str, Any]


class WhatIfInputError(RetentionError, ValueError):
    """A factor or change the user gave cannot be applied; the message says what would work."""


@dataclass(frozen=True)
class Change:
    factor: str
    text: str  # as the user wrote it
    kind: str  # "scale", "shift"
    amount: float  # the multiplier for "scale", the shift on the raw scale for "shift"
    lower: float | None = None
    upper: float | None = None

    @property
    def column(self) -> str:
        return FACTORS_BY_NAME[self.factor].column

    def apply(self, values: pd.Series) -> pd.Series:
        """The changed raw measure; a missing value (nothing to measure) stays missing."""
        changed = values * self.amount if self.kind == "scale" else values + self.amount
        if self.lower is not None or self.upper is not None:
            changed = changed.clip(lower=self.lower, upper=self.upper)
        return changed

    def describe(self) -> str:
        if self.kind == "scale":
            return f"{self.factor} × {self.amount:g} ({self.text})"
        bounds = f", clipped to [{self.lower:g}, {self.upper:g}]"
        if FACTORS_BY_NAME[self.factor].change == "rate":
            return f"{self.factor} {100 * self.amount:+g} percentage points{bounds}"
        return f"{self.factor} {self.amount:+g}{bounds}"

    def to_dict(self) -> dict:
        return {"factor": self.factor, "change": self.text, "description": self.describe()}


def parse_change(factor: str, text: str) -> Change:
    """'-50%' scales a time, '-5pp' shifts a rate (percentage points), '+0.5' shifts CSAT."""
    if factor in FACTORS_BY_NAME and factor not in CHANGEABLE:
        raise WhatIfInputError(f"{factor} cannot be changed in a what-if: it counts derived events or describes the "
                               f"case mix, and which interactions would change is not defined; change one of "
                               f"{list(CHANGEABLE)}")
    if factor not in CHANGEABLE:
        raise WhatIfInputError(f"unknown factor {factor!r}; choose from {list(CHANGEABLE)}")
    cleaned = str(text).strip().replace("\u2212", "-").replace(" ", "")
    match = CHANGE_PATTERN.match(cleaned)
    examples = {"duration": "-50% or +25%", "rate": "-5pp or +10pp", "score": "+0.5 or -1"}
    kind, change_range = FACTORS_BY_NAME[factor].change, FACTORS_BY_NAME[factor].change_range
    if kind is None:  # CHANGEABLE holds the factors with a change kind; this narrows it for the checks below
        raise WhatIfInputError(f"{factor} has no what-if change")
    if not match:
        raise WhatIfInputError(f"cannot read the change {text!r} for {factor}; write it like {examples[kind]}")
    sign, number, unit = match.groups()
    value = float(number) * (-1.0 if sign == "-" else 1.0)
    if kind == "duration":
        if unit != "%":
            raise WhatIfInputError(f"{factor} is a time: give a relative change in percent, like {examples[kind]}")
        if value <= -100:
            raise WhatIfInputError(f"{factor} cannot fall by {-value:g}%: a time must stay above zero")
        return Change(factor, text, "scale", 1.0 + value / 100.0)
    if kind == "rate":
        if unit != "pp":
            raise WhatIfInputError(f"{factor} is a rate: give a shift in percentage points, like {examples[kind]} "
                                   "(a relative % change of a rate is ambiguous)")
        return Change(factor, text, "shift", value / 100.0, 0.0, 1.0)
    if unit is not None:
        raise WhatIfInputError(f"{factor} is a 1-5 score: give a shift in points, like {examples[kind]}")
    if change_range is None:
        raise WhatIfInputError(f"{factor} is a score without a range to clip a changed score to")
    lower, upper = change_range
    return Change(factor, text, "shift", value, lower, upper)


def paired_changes(factors: list[str], changes: list[str]) -> list[tuple[str, str]]:
    """A command's --factor and --change options, paired in order (WhatIfInputError when their numbers differ)."""
    if len(factors) != len(changes):
        raise WhatIfInputError(f"{len(factors)} --factor but {len(changes)} --change: give one change per factor, in "
                               "the same order")
    return list(zip(factors, changes))


def parse_changes(pairs) -> list[Change]:
    changes = [c if isinstance(c, Change) else parse_change(*c) for c in pairs]
    if not changes:
        raise WhatIfInputError("give at least one factor and change")
    seen = [c.factor for c in changes]
    repeated = sorted({f for f in seen if seen.count(f) > 1})
    if repeated:
        raise WhatIfInputError(f"{repeated} changed more than once; give one change per factor")
    return changes


class WhatIf:
    """Expected churn and lost ARR over a horizon under today's measures vs changed ones.

    Configure the changes here; fit(con, drivers=None) reuses a fitted ServiceDrivers or fits one, and
    returns self with summary_ (one row per quantity: baseline, scenario, kept, 95% interval),
    accounts_ (each account's two probabilities), draws_ (the kept numbers per coefficient draw),
    notes_, and to_json_dict()."""

    def __init__(self, changes, horizon_days: int = WHATIF_HORIZON_DAYS, n_draws: int = WHATIF_DRAWS, seed: int = 0,
                 level: float = 0.95, max_draw_accounts: int = WHATIF_DRAW_ACCOUNTS):
        self.changes = parse_changes(changes)
        if horizon_days <= 0:
            raise WhatIfInputError("the horizon must be a positive number of days")
        if n_draws < 1:
            raise WhatIfInputError("n_draws must be at least 1")
        self.horizon_days = horizon_days
        self.n_draws = n_draws
        self.seed = seed
        self.level = level
        self.max_draw_accounts = max_draw_accounts

    def fit(self, con: duckdb.DuckDBPyConnection, drivers: ServiceDrivers | None = None,
            account_ids=None, rows: pd.DataFrame | None = None,
            overlap_ranges: Mapping[str, pd.DataFrame] | None = None) -> "WhatIf":
        """account_ids (optional) limits the scored accounts to a subset, e.g. the app's filtered accounts.
        rows (optional) are `risk.current_rows(con)` already read (the app reads them once per build); they
        are not modified. overlap_ranges (optional): `case_mix_ranges(con, column)` of changed measures, already
        read (they depend on the build only)."""
        drivers = drivers if drivers is not None else whatif_model(con, [c.factor for c in self.changes])
        self.structure_ = stored_structure(con)
        model = drivers.model_
        in_model = set(drivers.design_.terms.factor)
        for change in self.changes:
            if change.factor not in in_model:
                reason = next((d["reason"] for d in drivers.design_.dropped if d["term"] == change.factor),
                              "it is not among the model's factors")
                raise WhatIfInputError(f"the drivers model has no term for {change.factor} ({reason})")

        rows = current_rows(con) if rows is None else rows
        if account_ids is not None:
            wanted = pd.Index(account_ids)
            if wanted.inferred_type != "string":  # numbers given for text ids
                wanted = wanted.astype(str)
            rows = rows[rows.account_id.isin(wanted)].reset_index(drop=True)  # ids are text in the panel
            if rows.empty:
                raise WhatIfInputError("no active accounts match the filters")
        changed = rows.copy()
        for change in self.changes:
            changed[change.column] = change.apply(rows[change.column].astype(float))
        X = design_matrix(rows, drivers).to_numpy()
        X_changed = design_matrix(changed, drivers).to_numpy()
        arr = 12.0 * rows["mrr"].astype(float).fillna(0.0).to_numpy()
        tenure = rows["tenure_days"].to_numpy(float)
        hazard = BaselineHazard(model, max_tenure_days(con))

        # the point estimate at the fitted coefficients
        increment = hazard.increment(tenure, self.horizon_days)
        lp_base, lp_scenario = model.predict_log_partial_hazard(X), model.predict_log_partial_hazard(X_changed)
        # exp(lp) once per account, for the estimate, each tail scale and each step of the revenue kept
        risk_base, risk_scenario = relative_risk(lp_base), relative_risk(lp_scenario)
        p_base = churn_probability_at_risk(increment, risk_base)
        p_scenario = churn_probability_at_risk(increment, risk_scenario)
        self.accounts_ = pd.DataFrame({"account_id": rows.account_id.astype(str), "tenure_days": tenure.astype(int),
                                       "arr": arr, "churn_probability_baseline": p_base,
                                       "churn_probability_scenario": p_scenario})
        estimate: dict[str, Expected] = {
            "baseline": {"expected_churned_accounts": float(p_base.sum()), "expected_lost_arr": float(p_base @ arr)},
            "scenario": {"expected_churned_accounts": float(p_scenario.sum()),
                         "expected_lost_arr": float(p_scenario @ arr)},
        }
        accounts_kept = float((p_base - p_scenario).sum())
        arr_kept = float((p_base - p_scenario) @ arr)
        self.tail_sensitivity_: list[TailAnswer] = []
        for scale in TAIL_SCALES:
            scaled = hazard.with_tail_scale(scale).increment(tenure, self.horizon_days)
            base = churn_probability_at_risk(scaled, risk_base)
            scenario = churn_probability_at_risk(scaled, risk_scenario)
            self.tail_sensitivity_.append({"tail_scale": scale, "expected_churned_accounts": float(base.sum()),
                                           "accounts_kept": float((base - scenario).sum()),
                                           "arr_kept": float((base - scenario) @ arr)})

        self.accounts_past_observed_tenure_ = hazard.n_extended(tenure, self.horizon_days)
        self.revenue_kept_ = self._revenue_kept(hazard, tenure, risk_base, risk_scenario, arr / 12.0)
        self.draws_ = self._draws(model, hazard, X, X_changed, tenure, arr, (accounts_kept, arr_kept))
        tail = (1 - self.level) / 2 * 100
        interval = {name: np.percentile(self.draws_[name].to_numpy(), [tail, 100 - tail])
                    for name in ("accounts_kept", "arr_kept")}
        self.result_: WhatIfResult = {
            "accounts_kept": {"estimate": accounts_kept, "ci_lower": float(interval["accounts_kept"][0]),
                              "ci_upper": float(interval["accounts_kept"][1])},
            "arr_kept": {"estimate": arr_kept, "ci_lower": float(interval["arr_kept"][0]),
                         "ci_upper": float(interval["arr_kept"][1])},
            "baseline": estimate["baseline"],
            "scenario": estimate["scenario"],
            "tail_sensitivity": self.tail_sensitivity_,
            "revenue_kept": self._revenue_with_interval(arr_kept, interval["arr_kept"]),
        }
        self.summary_ = pd.DataFrame([
            {"quantity": "accounts", "baseline": estimate["baseline"]["expected_churned_accounts"],
             "scenario": estimate["scenario"]["expected_churned_accounts"], "kept": accounts_kept,
             "ci_lower": interval["accounts_kept"][0], "ci_upper": interval["accounts_kept"][1]},
            {"quantity": "arr", "baseline": estimate["baseline"]["expected_lost_arr"],
             "scenario": estimate["scenario"]["expected_lost_arr"], "kept": arr_kept,
             "ci_lower": interval["arr_kept"][0], "ci_upper": interval["arr_kept"][1]},
        ])
        self.n_accounts_ = int(len(rows))
        self.sla_recomputed_ = self._sla_recomputed(
            con, None if account_ids is None else rows.account_id.tolist())
        self.overlap_ = self._overlap(con, rows, changed, overlap_ranges or {})
        self.notes_ = self._notes(drivers, rows, hazard, tenure)
        return self

    def _revenue_kept(self, hazard: BaselineHazard, tenure, risk_base, risk_scenario, mrr) -> pd.DataFrame:
        """Revenue the change keeps by the end of each month of the horizon: Σ MRR × (days as a customer with the
        change − without it) / days per month, the days being ∫ S(t) dt over the horizon so far, with
        S(t) = exp(-(H0(τ + t) - H0(τ)) · exp(lp)), exp(lp) given as risk_base and risk_scenario. An account kept
        late in the horizon pays for fewer months than one kept early, which ARR kept (a year's revenue of every
        account kept) does not see."""
        days = np.unique(np.append(np.arange(0.0, self.horizon_days, REVENUE_STEP_DAYS), self.horizon_days))
        per_day = np.empty(days.size)
        # tenures are whole days, so far fewer distinct values than accounts: H0 is looked up for each distinct
        # tenure and spread to the accounts (elementwise, so the same values as a lookup per account)
        tenures, account_tenure = np.unique(np.asarray(tenure, dtype=float), return_inverse=True)
        today = hazard.cumulative(tenures)[account_tenure]
        for j, t in enumerate(days):  # one step at a time: memory stays one column of accounts
            increment = hazard.cumulative(tenures + t)[account_tenure] - today
            # S_changed - S_today = P_today - P_changed
            kept = churn_probability_at_risk(increment, risk_base) - churn_probability_at_risk(increment, risk_scenario)
            per_day[j] = mrr @ kept / DAYS_PER_MONTH
        cumulative = np.concatenate([[0.0], np.cumsum(np.diff(days) * (per_day[1:] + per_day[:-1]) / 2.0)])
        month_ends = np.minimum(np.arange(1, int(np.ceil(self.horizon_days / DAYS_PER_MONTH)) + 1) * DAYS_PER_MONTH,
                                self.horizon_days)
        return pd.DataFrame({"month": np.arange(1, month_ends.size + 1), "days": month_ends,
                             "revenue_kept": np.interp(month_ends, days, cumulative)})

    def _revenue_with_interval(self, arr_kept: float, arr_interval) -> dict[str, Any]:
        """Revenue kept over the horizon with its 95% interval, and by month: the interval is ARR kept's, scaled by
        the estimate's ratio of revenue to ARR kept (the timing of the churn a change avoids moves little between
        coefficient draws; the draws themselves stay on ARR kept, which costs one evaluation per draw)."""
        total = float(self.revenue_kept_.revenue_kept.iloc[-1])
        ratio = total / arr_kept if arr_kept else 0.0
        low, high = sorted((ratio * float(arr_interval[0]), ratio * float(arr_interval[1])))
        return {"estimate": total, "ci_lower": low, "ci_upper": high,
                "by_month": [{"month": int(r.month), "days": float(r.days), "revenue_kept": float(r.revenue_kept)}
                             for r in self.revenue_kept_.itertuples()]}

    def _overlap(self, con, rows: pd.DataFrame, changed: pd.DataFrame,
                 given_ranges: Mapping[str, pd.DataFrame]) -> list[dict]:
        """Per changed factor: the share of the active accounts it applies to whose changed value lies outside
        the 1st-99th percentile range the panel shows for accounts of similar case mix."""
        out = []
        for change in self.changes:
            ranges = given_ranges.get(change.column)
            if ranges is None:
                ranges = case_mix_ranges(con, change.column)
            bands = pd.DataFrame({"high_priority_band": _band(rows["high_priority_share_90d"]),
                                  "live_channel_band": _band(rows["live_channel_share_90d"]),
                                  "value": changed[change.column].astype(float)})
            applied = bands[rows[change.column].notna().to_numpy()]
            merged = applied.merge(ranges, on=["high_priority_band", "live_channel_band"], how="left")
            outside = (merged.measure_p01.isna() | (merged.value < merged.measure_p01 - 1e-12)
                       | (merged.value > merged.measure_p99 + 1e-12))
            share = float(outside.mean()) if len(merged) else 0.0
            out.append({"factor": change.factor, "accounts": int(len(merged)), "outside": int(outside.sum()),
                        "share_outside": share, "warn": share > OVERLAP_WARN_SHARE})
        return out

    def _sla_recomputed(self, con, account_ids: list[str] | None) -> dict | None:
        """For a change of first response: the SLA breaches and bad interactions it implies, ticket by ticket, over
        the latest windows of the scored accounts (`account_ids`, or every active account), from the build's
        sla_window_tickets."""
        change = next((c for c in self.changes if c.factor == "first_response_hours"), None)
        if change is None:
            return None
        frame = run_query(con, sql_text("queries", "whatif_sla_recomputed"),
                          {"first_response_scale": change.amount, "account_ids": account_ids}).df()
        return frame.iloc[0].to_dict() if len(frame) else None

    def _draws(self, model, hazard: BaselineHazard, X, X_changed, tenure, arr, estimate) -> pd.DataFrame:
        """Accounts and ARR kept for each coefficient draw, batched so memory stays bounded."""
        rng = np.random.default_rng(self.seed)
        beta = model.params_.to_numpy()
        robust = getattr(model, "robust_variance_matrix_", None)
        self.covariance_ = "cluster-robust by account" if robust is not None else "model-based"
        covariance = (robust if robust is not None else model.variance_matrix_).to_numpy()
        delta = rng.multivariate_normal(np.zeros(beta.size), covariance, size=self.n_draws, method="svd")
        noise = hazard.increment_noise(rng, self.n_draws)
        n = len(tenure)
        sample = None
        if n > self.max_draw_accounts:
            sample = np.sort(rng.choice(n, size=self.max_draw_accounts, replace=False))
            X, X_changed, tenure, arr = X[sample], X_changed[sample], tenure[sample], arr[sample]
        self.draw_accounts_ = len(tenure)
        # an account whose terms the change leaves as they are (nothing measured to speed up) has the same
        # probability under both in every draw, so it keeps exactly 0: the draws skip it
        moved = np.any(X != X_changed, axis=1)
        centred, centred_changed = X[moved] - model.means_, X_changed[moved] - model.means_
        arr = arr[moved]
        # H0's increment depends on an account only through its tenure: computed once per distinct tenure
        tenures, position = np.unique(tenure[moved], return_inverse=True)
        kept_accounts = np.zeros(self.n_draws)
        kept_arr = np.zeros(self.n_draws)
        batch = max(1, CELLS_PER_BATCH // max(len(position), 1))
        for first in range(0, self.n_draws if len(position) else 0, batch):
            d = delta[first:first + batch]
            betas = (beta + d).T  # (p, b)
            increment = hazard.increment(tenures, self.horizon_days, d,
                                         None if noise is None else noise[:, first:first + batch])[position]  # (n, b)
            difference = churn_probability(increment, centred @ betas) - churn_probability(
                increment, centred_changed @ betas)
            kept_accounts[first:first + batch] = difference.sum(axis=0)
            kept_arr[first:first + batch] = arr @ difference
        if sample is not None:
            # each draw's deviation from the sample's own point estimate, scaled up and added to the full one
            centred_beta = beta[:, None]
            increment = hazard.increment(tenures, self.horizon_days)[position][:, None]
            difference = (churn_probability(increment, centred @ centred_beta)
                          - churn_probability(increment, centred_changed @ centred_beta))
            scale = n / len(tenure)
            kept_accounts = estimate[0] + scale * (kept_accounts - difference.sum())
            kept_arr = estimate[1] + scale * (kept_arr - float(arr @ difference[:, 0]))
        return pd.DataFrame({"accounts_kept": kept_accounts, "arr_kept": kept_arr})

    def _consequences(self, factor: str) -> set[str]:
        return self.structure_.descendants(factor) if factor in self.structure_.factors else set()

    def _notes(self, drivers: ServiceDrivers, rows: pd.DataFrame, hazard: BaselineHazard, tenure) -> list[str]:
        notes = [f"{self.n_accounts_:,} accounts active at as-of; each keeps its latest month's measures over the "
                 f"{self.horizon_days}-day horizon, apart from the change"]
        for change in self.changes:
            missing = int(rows[change.column].isna().sum())
            if missing:
                notes.append(f"{missing:,} accounts have no {label(change.factor)} measured in the last 90 days; the change "
                             "does not apply to them (they keep the model's imputed value)")
        changed = [c.factor for c in self.changes]
        in_model = set(drivers.design_.terms.factor)
        notes.append("estimated effect if the listed confounders are the important ones: the model of "
                     + ", ".join(label(f) for f in changed) + " is adjusted for "
                     + ", ".join(sorted({label(f) for f in in_model if not f.startswith("missing: ")}
                                        - {label(f) for f in changed}
                                        | set(drivers.covariates or [])))
                     + "; the consequences of the change (" + ", ".join(
                         sorted({label(c) for f in changed for c in self._consequences(f)} - {label(f) for f in changed}))
                     + ") are left out of it, so their part of the effect is included, not held at today's values ("
                     + self.structure_.in_words + ")")
        for item in self.overlap_:
            if item["warn"]:
                notes.append(f"overlap: for {item['share_outside']:.0%} of the accounts it applies to, the changed "
                             f"{label(item['factor'])} lies outside the range (1st-99th percentile) seen for accounts "
                             "of similar case mix; there the estimate extrapolates the model beyond the data")
        sla = self.sla_recomputed_
        if sla and sla.get("n_tickets"):
            notes.append(f"recomputed ticket by ticket against each severity's SLA target, over the active accounts' "
                         f"latest windows ({int(sla['n_tickets']):,} answered tickets): SLA breach rate "
                         f"{sla['sla_breach_rate_today']:.1%} today, {sla['sla_breach_rate_with_change']:.1%} with the "
                         f"change; bad interactions {int(sla['bad_interactions_today']):,} today, "
                         f"{int(sla['bad_interactions_with_change']):,} with the change")
        extended = self.accounts_past_observed_tenure_
        if extended:
            low, high = self.tail_sensitivity_
            notes.append(f"{extended:,} accounts' horizons reach past the largest tenure observed "
                         f"({hazard.max_tenure_days_:,.0f} days), where the data say nothing of the hazard; there it "
                         f"is taken as constant at the average daily hazard of the last {hazard.tail_days_} observed "
                         f"days ({hazard.tail_rate_:.2e} per day at average covariates). With that tail hazard "
                         f"halved the change keeps {low['accounts_kept']:,.1f} accounts, doubled "
                         f"{high['accounts_kept']:,.1f} (estimate {self.result_['accounts_kept']['estimate']:,.1f})")
        if self.draw_accounts_ < self.n_accounts_:
            notes.append(f"the interval's coefficient draws were evaluated on a random sample of "
                         f"{self.draw_accounts_:,} accounts (seed {self.seed}) and scaled to all {self.n_accounts_:,}; "
                         "the estimate itself uses every account")
        notes.append(f"the {self.level:.0%} interval reflects uncertainty in the model's coefficients "
                     f"({self.covariance_} covariance) and in its baseline hazard (each step's sampling error, "
                     f"Tsiatis), {self.n_draws:,} draws, seed {self.seed}; not "
                     "chance in which accounts churn, not the tail past the longest tenure (see its halved and "
                     "doubled answers), nor whether the association is causal: a change in service may not move "
                     "churn as the model's associations suggest")
        notes.extend(drivers.model_info_.get("notes", []))
        return notes

    def to_json_dict(self) -> dict:
        return {
            "accounts_kept": self.result_["accounts_kept"],
            "arr_kept": self.result_["arr_kept"],
            "revenue_kept": self.result_["revenue_kept"],
            "baseline": self.result_["baseline"],
            "scenario": self.result_["scenario"],
            "horizon_days": self.horizon_days,
            "accounts": self.n_accounts_,
            "changes": [c.to_dict() for c in self.changes],
            "covariance": self.covariance_,
            "tail_sensitivity": self.tail_sensitivity_,
            "accounts_past_observed_tenure": self.accounts_past_observed_tenure_,
            "sla_recomputed": self.sla_recomputed_,
            "overlap": self.overlap_,
            "notes": self.notes_,
        }


def case_mix_ranges(con: duckdb.DuckDBPyConnection, column: str) -> pd.DataFrame:
    """Per case-mix cell, the 1st and 99th percentiles of a panel measure over the account-months where it is
    known: the range a changed value is checked against (whatif_overlap_ranges.sql)."""
    low, high = OVERLAP_BAND_EDGES
    return execute_template(con, "whatif_overlap_ranges", {"low_band_edge": low, "high_band_edge": high},
                            measure=TrustedSql(quote_ident(column))).df()


def _band(share: pd.Series) -> np.ndarray:
    """The case-mix band of whatif_overlap_ranges.sql: -1 missing, else the number of band edges at or below it."""
    values = share.astype(float).to_numpy()
    bands = np.searchsorted(np.asarray(OVERLAP_BAND_EDGES), values, side="right")
    return np.where(np.isnan(values), -1, bands).astype(np.int32)
