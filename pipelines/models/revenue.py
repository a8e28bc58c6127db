"""Revenue drivers: next month's net revenue retention of account-months by quartile of a service measure.

Retention is half of the money; the other half is whether customers grow. For each service factor this
module splits the account-months of `account_months` into quartiles of the factor's trailing 90-day
measure (known before the month started) and, per quartile, relates it to the revenue movement over the
following month:

    nrr_monthly    = sum(MRR next month, 0 for an account that churned in the month) / sum(MRR this month)
    nrr_annualised = nrr_monthly ** 12   (one month's rate compounded, not an observed year)

over the account-months whose next month is known (the month an account churned in, or one followed by
another month at risk; an active account's as-of month has no next month yet and is left out). The
monthly movement splits into expansion, contraction and churned MRR, each as a share of this month's MRR:
nrr_monthly = 1 + expansion_rate - contraction_rate - churned_mrr_rate.

Quartile 1 is always the best service (`direction` per factor): the lowest times, rates and counts, the
highest CSAT and agent-update rate. Cut points are values that occur; a value equal to a cut point goes
to the better quartile, so ties never split and a measure that is mostly 0 can leave a quartile empty.

95% intervals come from a cluster bootstrap over accounts (an account's months move together, so
resampling rows would understate the uncertainty): per-account sums per quartile, then Poisson(1)
weights per account and resample (Hanley & MacGibbon 2006; Chamandy et al. 2012), matrix products in
chunks of accounts, no loop over rows. Cut points are held at the full sample's.

This is descriptive: one measure at a time, no adjustment for plan, size, tenure or the other measures.
A difference between quartiles is an association, not proof that changing the service changes revenue.

`effects_` (one row per factor per non-empty quartile; what `retention revenue` prints):
factor, pillar, direction, measure_column, quartile, measure_low, measure_high, n_account_months,
n_accounts, n_churned, starting_mrr, next_month_mrr, expansion_mrr, contraction_mrr, churned_mrr,
expansion_rate, contraction_rate, churned_mrr_rate (monthly, shares of starting_mrr), nrr_monthly,
nrr_annualised, ci_lower, ci_upper (95% CI of nrr_annualised), and the comparison with the worst
quartile present (usually 4): vs_quartile, nrr_annualised_difference (this quartile minus the worst, in
annualised NRR; NULL on the worst quartile's own row), difference_ci_lower, difference_ci_upper.
So "quartile 1 vs 4" is the quartile-1 row's difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

import duckdb
import numpy as np
import pandas as pd

from ..errors import RetentionError
from ..settings import REVENUE_BOOTSTRAP_RESAMPLES, REVENUE_BOOTSTRAP_SEED
from .factors import FACTORS, FACTORS_BY_NAME
from ..sqlrun import TrustedSql, create_table_as, file_fragment, query_text, quote_ident
from .jsonable import json_ready

MODEL_NAME = "revenue_drivers"
FLAT_MRR_REASON = ("revenue drivers need an mrr_history file: without it MRR is flat, so there is no expansion "
                   "or contraction to relate to service")
NO_PAIRS_REASON = ("no account-month has a known next month yet (every account is in its first month at the "
                   "as-of date), so there is no revenue movement to relate to service")
ACCOUNT_CHUNK = 8192  # resample weights are drawn for this many accounts at a time: memory stays flat at 1M accounts


@dataclass(frozen=True)
class RevenueFactor:
    name: str  # a factors.FACTORS name: the panel column and pillar come from there
    higher_is_better: bool

    @property
    def column(self) -> str:
        return FACTORS_BY_NAME[self.name].column

    @property
    def pillar(self) -> str:
        return FACTORS_BY_NAME[self.name].pillar

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"


# The service measures with a better direction (FACTORS' higher_is_better): volume, credits and case mix are not
# service quality, so they have no best quartile.
REVENUE_FACTORS: tuple[RevenueFactor, ...] = tuple(
    RevenueFactor(f.name, f.higher_is_better) for f in FACTORS if f.higher_is_better is not None)
REVENUE_FACTORS_BY_NAME = {f.name: f for f in REVENUE_FACTORS}

# One row per account per quartile of one factor: what revenue_account_quartiles.sql returns (name: type).
ACCOUNT_QUARTILE_COLUMNS = {
    "factor": "varchar", "account_id": "varchar", "quartile": "integer", "n_account_months": "bigint",
    "n_churned": "bigint", "measure_low": "double", "measure_high": "double", "starting_mrr": "double",
    "next_month_mrr": "double", "expansion_mrr": "double", "contraction_mrr": "double", "churned_mrr": "double",
}

EFFECT_COLUMNS = {
    "factor": "varchar", "pillar": "varchar", "direction": "varchar", "measure_column": "varchar",
    "quartile": "integer", "measure_low": "double", "measure_high": "double",
    "n_account_months": "bigint", "n_accounts": "bigint", "n_churned": "bigint",
    "starting_mrr": "double", "next_month_mrr": "double", "expansion_mrr": "double", "contraction_mrr": "double",
    "churned_mrr": "double", "expansion_rate": "double", "contraction_rate": "double", "churned_mrr_rate": "double",
    "nrr_monthly": "double", "nrr_annualised": "double", "ci_lower": "double", "ci_upper": "double",
    "vs_quartile": "integer", "nrr_annualised_difference": "double", "difference_ci_lower": "double",
    "difference_ci_upper": "double",
}


class RevenueInputError(RetentionError, ValueError):
    """A factor or input frame cannot be used; the message names it and lists the valid ones."""


# Poisson(1) by inverse CDF: a weight is the number of these cumulative probabilities a uniform draw exceeds.
# Comparing against 12 thresholds is several times faster than numpy's Poisson sampler; P(weight > 12) is
# 1e-10, far below anything a percentile of a few hundred resamples can see.
_POISSON1_CDF = np.cumsum([np.exp(-1.0) / math.factorial(k) for k in range(13)])


def poisson1_weights(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Poisson(1) counts (how often each account is drawn in each resample) as float64."""
    uniform = rng.random(shape)
    weights = np.zeros(shape)
    for threshold in _POISSON1_CDF:
        weights += uniform > threshold
    return weights


def poisson_resample_totals(account_index: np.ndarray, column_index: np.ndarray, values: np.ndarray,
                            n_accounts: int, n_columns: int, n_resamples: int,
                            rng: np.random.Generator) -> np.ndarray:
    """Column totals under each bootstrap resample of (account, column, value) entries.

    Each account gets a Poisson(1) weight per resample (how often it is drawn), the same for all its
    entries, so whole accounts are resampled. Returns (n_resamples, n_columns). The entries are summed per
    account first (n_accounts x n_columns numbers), and the weights are drawn for ACCOUNT_CHUNK accounts at a
    time, so memory stays flat however many rows and resamples there are.
    """
    per_account = np.bincount(account_index * n_columns + column_index, weights=values,
                              minlength=n_accounts * n_columns).reshape(n_accounts, n_columns)
    totals = np.zeros((n_resamples, n_columns))
    for first in range(0, n_accounts, ACCOUNT_CHUNK):
        last = min(first + ACCOUNT_CHUNK, n_accounts)
        # drawn for every account, with rows or not, so a seed gives the same weights whatever the factor
        totals += poisson1_weights(rng, (n_resamples, last - first)) @ per_account[first:last]
    return totals


def summarise_quartiles(summary: pd.DataFrame, group_index: np.ndarray, account_index: np.ndarray,
                        starting_mrr: np.ndarray, next_month_mrr: np.ndarray, n_accounts: int, n_resamples: int,
                        seed: int, ci_level: float = 0.95) -> pd.DataFrame:
    """Per factor and quartile: revenue movement, NRR with its bootstrap CI and the difference vs the worst.

    `summary` is revenue_quartile_summary.sql's result (sorted by factor, then quartile); the arrays are
    revenue_bootstrap_entries.sql's, one entry per factor, account and quartile. One set of weights
    (per account index, 0..n_accounts-1) serves every factor, so the seed alone fixes every interval.
    """
    summary = summary.copy()
    start = summary.starting_mrr.to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):  # a quartile with no MRR has no rate (NaN)
        summary["expansion_rate"] = summary.expansion_mrr / start
        summary["contraction_rate"] = summary.contraction_mrr / start
        summary["churned_mrr_rate"] = summary.churned_mrr / start
        summary["nrr_monthly"] = summary.next_month_mrr / start
    summary["nrr_annualised"] = summary.nrr_monthly ** 12

    # bootstrap: one column pair (starting, next) per summary row, totals under each resample
    n_groups = len(summary)
    group_index = np.asarray(group_index, dtype=np.int64)
    totals = poisson_resample_totals(
        np.concatenate([account_index, account_index]).astype(np.int64),
        np.concatenate([2 * group_index, 2 * group_index + 1]),
        np.concatenate([np.asarray(starting_mrr, float), np.asarray(next_month_mrr, float)]),
        n_accounts, 2 * n_groups, n_resamples, np.random.default_rng(seed))
    with np.errstate(divide="ignore", invalid="ignore"):
        annualised = (totals[:, 1::2] / totals[:, 0::2]) ** 12  # (resamples, summary rows)
    annualised[~np.isfinite(annualised)] = np.nan  # a resample that drew no account of a quartile
    tail = 100 * (1 - ci_level) / 2
    summary["ci_lower"], summary["ci_upper"] = _percentiles(annualised, tail)

    worst = summary.groupby("factor").quartile.transform("max")
    summary["vs_quartile"] = worst
    # summary is sorted by factor then quartile, so a factor's worst quartile is its last row
    worst_row = pd.Series(np.arange(n_groups)).groupby(summary.factor.to_numpy()).transform("max").to_numpy()
    difference = annualised - annualised[:, worst_row]
    lower, upper = _percentiles(difference, tail)
    is_worst = (summary.quartile == worst).to_numpy()
    summary["nrr_annualised_difference"] = np.where(is_worst, np.nan,
                                                     summary.nrr_annualised - summary.nrr_annualised.to_numpy()[worst_row])
    summary["difference_ci_lower"] = np.where(is_worst, np.nan, lower)
    summary["difference_ci_upper"] = np.where(is_worst, np.nan, upper)
    return summary


def _percentiles(draws: np.ndarray, tail: float) -> tuple[np.ndarray, np.ndarray]:
    usable = np.isfinite(draws).sum(axis=0) > 0
    lower = np.full(draws.shape[1], np.nan)
    upper = np.full(draws.shape[1], np.nan)
    if usable.any():
        lower[usable], upper[usable] = np.nanpercentile(draws[:, usable], [tail, 100 - tail], axis=0)
    return lower, upper


class RevenueDrivers:
    """Next-month NRR by quartile of each service measure. Configure here; fit(con) returns self.

    Learned: `effects_` (see the module docstring),
    `model_info_`, and `reason_` (None, or why there are no effects: a flat-MRR build, no next months).
    """

    def __init__(self, factors: list[str] | None = None, n_resamples: int = REVENUE_BOOTSTRAP_RESAMPLES,
                 seed: int = REVENUE_BOOTSTRAP_SEED, ci_level: float = 0.95):
        self.factors = factors
        self.n_resamples = n_resamples
        self.seed = seed
        self.ci_level = ci_level

    def _factors(self) -> list[RevenueFactor]:
        names = list(self.factors) if self.factors is not None else [f.name for f in REVENUE_FACTORS]
        unknown = [n for n in names if n not in REVENUE_FACTORS_BY_NAME]
        if unknown:
            raise RevenueInputError(f"unknown factor {unknown}; choose from {[f.name for f in REVENUE_FACTORS]}")
        if self.n_resamples < 20:
            raise RevenueInputError(f"n_resamples={self.n_resamples}: at least 20 are needed for a 95% interval")
        return [REVENUE_FACTORS_BY_NAME[n] for n in names]

    def fit(self, con: duckdb.DuckDBPyConnection) -> "RevenueDrivers":
        factors = self._factors()
        self.revenue_basis_ = con.execute(query_text("revenue_basis")).fetchall()[0][0]  # one row per build
        if self.revenue_basis_ != "mrr_history":
            return self._without_effects(FLAT_MRR_REASON, factors)
        columns = list(dict.fromkeys(f.column for f in factors))
        measure_columns = ", ".join(f"cast(m.{quote_ident(c)} as double) as {quote_ident(c)}" for c in columns)
        # the slots hold only names from the allow-list REVENUE_FACTORS (checked in _factors above); a cursor
        # of its own keeps the temp tables out of the caller's session
        with con.cursor() as cursor:
            pairs = file_fragment("queries", "revenue_month_pairs", measure_columns=TrustedSql(measure_columns))
            # the window over every account's months runs once; each factor then only cuts and sums
            create_table_as(cursor, "revenue_month_pairs", pairs, {}, temporary=True)
            for i, factor in enumerate(factors):
                quartiles = file_fragment("queries", "revenue_account_quartiles",
                                          measure=TrustedSql(quote_ident(factor.column)))
                create_table_as(cursor, "revenue_account_quartiles", quartiles,
                                {"factor": factor.name, "higher_is_better": factor.higher_is_better},
                                append=i > 0, temporary=True)
            return self._fit_relation(cursor, factors)

    def fit_frame(self, account_quartiles: pd.DataFrame, factors: list[RevenueFactor] | None = None) -> "RevenueDrivers":
        """Fit from per-account quartile sums (ACCOUNT_QUARTILE_COLUMNS), as revenue_account_quartiles.sql makes them."""
        factors = factors or self._factors()
        if not hasattr(self, "revenue_basis_"):  # a frame given directly came from MRR that moves
            self.revenue_basis_ = "mrr_history"
        missing = [c for c in ACCOUNT_QUARTILE_COLUMNS if c not in account_quartiles.columns]
        if missing:
            raise RevenueInputError(f"account-quartile frame lacks column(s) {missing}; "
                                    f"expected {list(ACCOUNT_QUARTILE_COLUMNS)}")
        frame = account_quartiles.loc[account_quartiles.factor.isin([f.name for f in factors]),
                                      list(ACCOUNT_QUARTILE_COLUMNS)]
        frame = frame.assign(account_id=frame.account_id.astype(str))
        with duckdb.connect() as con:
            con.register("revenue_account_quartiles", frame)
            return self._fit_relation(con, factors)

    def _fit_relation(self, con: duckdb.DuckDBPyConnection, factors: list[RevenueFactor]) -> "RevenueDrivers":
        """Fit from the relation revenue_account_quartiles on `con` (a temp table, or a registered frame)."""
        summary = con.execute(query_text("revenue_quartile_summary")).df()
        if summary.empty:
            return self._without_effects(NO_PAIRS_REASON, factors)
        entries = con.execute(query_text("revenue_bootstrap_entries")).fetchnumpy()
        n_accounts = con.execute(query_text("revenue_account_count")).fetchall()[0][0]
        summary = summarise_quartiles(summary, entries["group_index"], entries["account_index"],
                                      entries["starting_mrr"], entries["next_month_mrr"], n_accounts,
                                      self.n_resamples, self.seed, self.ci_level)
        by_name = {f.name: f for f in factors}
        summary["pillar"] = summary.factor.map(lambda n: by_name[n].pillar)
        summary["direction"] = summary.factor.map(lambda n: by_name[n].direction)
        summary["measure_column"] = summary.factor.map(lambda n: by_name[n].column)
        order = {f.name: i for i, f in enumerate(factors)}
        summary = summary.sort_values(["factor", "quartile"], key=lambda s: s.map(order) if s.name == "factor" else s)
        self.effects_ = summary[list(EFFECT_COLUMNS)].reset_index(drop=True).astype(
            {"quartile": "int32", "vs_quartile": "int32", "n_account_months": "int64", "n_accounts": "int64",
             "n_churned": "int64"})
        present = set(summary.factor)
        self.reason_: str | None = None
        notes = list(_NOTES)
        notes.append(f"{ci_level_text(self.ci_level)} intervals: percentile cluster bootstrap over accounts "
                     f"(Poisson(1) weight per account), {self.n_resamples} resamples, seed {self.seed}")
        dropped = [{"factor": f.name, "reason": "not available: no account-month has this measure with a known next month"}
                   for f in factors if f.name not in present]
        single = [n for n, k in summary.groupby("factor").quartile.nunique().items() if k < 2]
        for name in single:
            notes.append(f"{name}: every known value ties, so there is one group and nothing to compare")
        months_by_factor = summary.groupby("factor").n_account_months.sum()
        self.model_info_ = {
            "model": MODEL_NAME,
            "method": "next-month net revenue retention of account-months by quartile of each trailing 90-day "
                      "service measure; descriptive, no adjustment",
            "revenue_basis": self.revenue_basis_,
            "n_accounts": int(n_accounts),
            "n_account_months_by_factor": {k: int(v) for k, v in months_by_factor.items()},
            "n_resamples": self.n_resamples,
            "seed": self.seed,
            "ci_level": self.ci_level,
            "factors": [{"factor": f.name, "measure_column": f.column, "direction": f.direction} for f in factors],
            "dropped_factors": dropped,
            "notes": notes,
            "reason": None,
            "fitted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        return self

    def _without_effects(self, reason: str, factors: list[RevenueFactor]) -> "RevenueDrivers":
        self.reason_ = reason
        self.effects_ = pd.DataFrame({c: pd.Series(dtype=_PANDAS_TYPES[t]) for c, t in EFFECT_COLUMNS.items()})
        self.model_info_ = {"model": MODEL_NAME, "revenue_basis": getattr(self, "revenue_basis_", None),
                            "factors": [f.name for f in factors], "reason": reason, "notes": list(_NOTES),
                            "fitted_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        return self

    def to_json_dict(self) -> dict:
        return json_ready({"effects": self.effects_.to_dict("records"), "model": self.model_info_})


_PANDAS_TYPES = {"varchar": "object", "integer": "int32", "bigint": "int64", "double": "float64"}

_NOTES = [
    "descriptive: account-months grouped by one service measure at a time, with no adjustment for plan, "
    "company size, tenure or the other measures; a difference between quartiles is an association, not proof "
    "that changing the service changes revenue",
    "next month's MRR counts 0 for an account that churned in the month; an active account's as-of month has "
    "no next month yet and is left out",
    "quartile 1 is the best service (lowest times, rates and counts; highest CSAT and agent-update rate); cut "
    "points are values that occur and ties never split, so a mostly-zero measure can leave a quartile empty; "
    "differences are against the worst quartile present",
    "annualised NRR is one month's NRR compounded over 12 months (nrr_monthly ** 12), not an observed year",
]


def ci_level_text(level: float) -> str:
    return f"{level:.0%}"
