"""At-risk accounts: each active account's probability of churning in the next 90 days, and why.

Owns the `account_risk` table, the `retention risk` command's scores, and the prediction
machinery the what-if shares: the fitted drivers model's terms for new rows (`design_matrix`) and the
tenure-specific baseline cumulative hazard (`BaselineHazard`).

The probability of churning in the next h days, for an account of tenure τ days with linear predictor
lp (relative to the model's covariate means), holding its current measures fixed over the horizon:

    P = 1 - exp(-(H0(τ + h) - H0(τ)) · exp(lp))

H0 is Breslow's estimate (lifelines' `baseline_cumulative_hazard_`). Past the largest tenure the panel
observes it is not identified; it is extended with the average daily hazard of the last 365 observed
days, and the output says how many accounts that touches.

The model's honesty is measured on a time split (`calibration`): refit on the panel as it stood 90 days before
as-of, predict 90-day churn for the accounts active then, and compare with what happened.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from .drivers import ServiceDrivers, category_codes, category_levels
from .store import store_model_info
from .factors import FACTORS_BY_NAME, MEASURE_COLUMNS
from ..errors import RetentionError
from ..sqlrun import TrustedSql, execute_template, file_fragment, identifier, quote_ident

HORIZON_DAYS = 90
TAIL_DAYS = 365  # the window whose average daily hazard extends H0 past the largest observed tenure
# the baseline hazard is constant within tenure bands holding at least this many churns (see BaselineHazard)
BAND_EVENTS = 50
Z_95 = 1.959963984540054


class RiskInputError(RetentionError, ValueError):
    """The database cannot give a risk score (no active accounts, no as-of date); the message says why."""


# ---------------------------------------------------------------------------------------------------
# shared prediction machinery (the what-if uses it too)


def design_matrix(rows: pd.DataFrame, drivers: ServiceDrivers) -> pd.DataFrame:
    """The fitted model's terms for new panel rows: the same transforms, the training fill values for
    missing measures, the same missing indicators and category levels. Columns in the model's order."""
    design = drivers.design_
    fills = {item["term"]: item["imputed_value"] for item in design.imputed}
    means = pd.Series(drivers.model_.means_, index=drivers.model_.names_)
    columns: dict[str, np.ndarray] = {}
    level_codes: dict[str, tuple[np.ndarray, dict[str, int]]] = {}  # per categorical covariate, once for its levels
    for term in design.terms.itertuples():
        name = term.term
        if term.pillar == "missing indicator":
            names = name.removeprefix("missing: ").split(", ")
            mask = np.zeros(len(rows), dtype=bool)
            for factor in names:
                column = FACTORS_BY_NAME[factor].column if factor in FACTORS_BY_NAME else factor
                mask |= rows[column].isna().to_numpy()
            columns[name] = mask.astype(float)
        elif term.factor in FACTORS_BY_NAME:
            factor = FACTORS_BY_NAME[term.factor]
            transform = next(t.transform for t in factor.terms if t.name == name)
            values = transform(rows[factor.column].astype(float))
            # a row missing a measure that was never missing in training gets the model's mean of the term
            columns[name] = values.fillna(fills.get(name, means[name])).to_numpy(float)
        elif term.level == "":  # numeric account covariate
            values = rows[term.factor].astype(float)
            columns[name] = values.fillna(fills.get(name, means[name])).to_numpy(float)
        else:  # one level of a categorical account covariate
            if term.factor not in level_codes:
                level_codes[term.factor] = category_codes(category_levels(rows[term.factor]))
            codes, code_of = level_codes[term.factor]
            # a level none of these rows has matches no code (factorize's codes are 0 and up)
            columns[name] = (codes == code_of.get(term.level, -1)).astype(float)
    # in the model's order as built: selecting the columns from a frame afterwards copies the whole block
    return pd.DataFrame({name: columns[name] for name in drivers.model_.names_}, index=rows.index)


class BaselineHazard:
    """H0(t), t in days since signup, from a fitted TimeVaryingCox: Breslow's increments pooled into tenure bands
    of at least `band_events` churns each, the hazard constant within a band (so H0 is Breslow's at each band's
    end, linear in between), and extended linearly past the largest observed tenure (the tail) with the average
    daily hazard of the last `tail_days` observed days, times `tail_scale` (1: that average; the what-if shows its
    answer with the tail halved and doubled).

    Why bands: Breslow's steps sit on single days, so an account's risk over its next 90 days of tenure rests on
    however many of a handful of churns fell in exactly those days; ranking accounts by it then selects the
    tenures where the steps happened to come out high (checked on the test worlds: the riskiest decile's risk
    was overstated by up to 7 points). Pooled over bands of at least 50 churns, the hazard follows any smooth
    shape over tenure (flat, rising, falling) without that noise.

    Coefficient draws move H0 with them: a draw β̂ + δ scales each increment by exp(-x̄_t · δ), x̄_t the
    risk set's covariate mean at t. That is the first-order change of d(t) / Σ exp(x β) in β (exact
    derivative at β̂), so H0 need not be refitted per draw; see the tests for its accuracy.

    H0's own sampling error rides on top (`increment_noise`): each increment d_t / S_t times an independent
    Gamma(d_t, 1/d_t) draw, mean 1 and variance 1/d_t, so the increment's variance is d_t / S_t², the
    martingale term of Tsiatis's variance of Breslow's estimator (the coefficient term is the draw above). It is
    largest where few churns fall: at the long tenures few accounts reach, where the longest customers' horizons
    run."""

    def __init__(self, model, max_tenure_days: float, tail_days: int = TAIL_DAYS, tail_scale: float = 1.0,
                 band_events: int = BAND_EVENTS):
        terms = model.baseline_hazard_terms("breslow")
        self.times_ = terms.index.to_numpy(float)
        self.increments_ = terms["hazard_increment"].to_numpy(float)
        self.events_ = terms["events"].to_numpy(float)
        self.risk_set_means_ = terms[model.names_].to_numpy(float)
        self.max_tenure_days_ = float(max(max_tenure_days, self.times_.max()))
        self.tail_days_ = tail_days
        self.tail_scale_ = tail_scale
        self.tail_start_days_ = max(0.0, self.max_tenure_days_ - tail_days)
        self._band_first, self.band_edges_ = self._bands(band_events)
        self.tail_rate_ = self._tail_rate(self.increments_[:, None])[0]

    def _bands(self, band_events: int) -> tuple[np.ndarray, np.ndarray]:
        """Each band's first event index and the band edges (0, ..., max tenure): a band closes at the first
        event time where it holds band_events churns; a short last band joins the one before."""
        events = np.where(np.isfinite(self.events_), self.events_, 1.0)
        starts, total = [0], 0.0
        for k, d in enumerate(events):
            total += d
            if total >= band_events and k + 1 < events.size:
                starts.append(k + 1)
                total = 0.0
        if len(starts) > 1 and events[starts[-1]:].sum() < band_events:
            starts.pop()
        first = np.asarray(starts)
        ends = np.append(self.times_[first[1:] - 1], self.max_tenure_days_)
        return first, np.concatenate([[0.0], ends])

    def with_tail_scale(self, tail_scale: float) -> "BaselineHazard":
        """The same baseline with the tail's hazard multiplied by `tail_scale` (the inside is unchanged)."""
        other = object.__new__(BaselineHazard)
        other.__dict__.update(self.__dict__)
        other.tail_scale_ = tail_scale
        other.tail_rate_ = other._tail_rate(other.increments_[:, None])[0]
        return other

    def increment_noise(self, rng: np.random.Generator, n_draws: int) -> np.ndarray:
        """(m, n_draws) multiplicative draws of each increment's sampling error."""
        events = np.maximum(self.events_, 1.0)[:, None]
        return rng.gamma(np.broadcast_to(events, (events.size, n_draws)), 1.0 / events)

    def _cumulative_at(self, increments: np.ndarray, t: np.ndarray) -> np.ndarray:
        """H0 at t (n,) for each column of increments (m, B): (n, B), within the observed range (t clipped to it)."""
        totals = np.add.reduceat(increments, self._band_first, axis=0)
        at_edges = np.vstack([np.zeros((1, increments.shape[1])), np.cumsum(totals, axis=0)])
        t = np.clip(t, 0.0, self.max_tenure_days_)
        band = np.clip(np.searchsorted(self.band_edges_, t, side="left") - 1, 0, totals.shape[0] - 1)
        start, end = self.band_edges_[band], self.band_edges_[band + 1]
        share = ((t - start) / np.maximum(end - start, 1e-9))[:, None]
        return at_edges[band] + share * totals[band]

    def _tail_rate(self, increments: np.ndarray) -> np.ndarray:
        ends = np.array([self.tail_start_days_, self.max_tenure_days_])
        at = self._cumulative_at(increments, ends)
        return self.tail_scale_ * (at[1] - at[0]) / max(self.max_tenure_days_ - self.tail_start_days_, 1.0)

    def cumulative(self, t, delta: np.ndarray | None = None, noise: np.ndarray | None = None) -> np.ndarray:
        """H0 at tenures t (n,); with coefficient perturbations delta (B, p) and/or increment noise (m, B), one
        column per draw (n, B)."""
        t = np.asarray(t, dtype=float)
        drawn = delta is not None or noise is not None
        increments = self.increments_[:, None]
        if delta is not None:
            increments = increments * np.exp(-self.risk_set_means_ @ np.atleast_2d(delta).T)
        if noise is not None:
            increments = increments * noise
        inside = self._cumulative_at(increments, t)
        rate = self._tail_rate(increments) if drawn else self.tail_rate_
        extended = inside + np.maximum(t - self.max_tenure_days_, 0.0)[:, None] * np.atleast_1d(rate)[None, :]
        return extended if drawn else extended[:, 0]

    def increment(self, tenure_days, horizon_days: float, delta: np.ndarray | None = None,
                  noise: np.ndarray | None = None) -> np.ndarray:
        """H0(τ + h) - H0(τ) for each tenure τ."""
        tenure_days = np.asarray(tenure_days, dtype=float)
        return (self.cumulative(tenure_days + horizon_days, delta, noise)
                - self.cumulative(tenure_days, delta, noise))

    def n_extended(self, tenure_days, horizon_days: float) -> int:
        """How many accounts' horizons reach past the largest observed tenure."""
        return int(np.sum(np.asarray(tenure_days, dtype=float) + horizon_days > self.max_tenure_days_))


def churn_probability(hazard_increment, linear_predictor) -> np.ndarray:
    """P = 1 - exp(-ΔH0 · exp(lp)), elementwise (broadcasts over draws)."""
    return churn_probability_at_risk(hazard_increment, relative_risk(linear_predictor))


def relative_risk(linear_predictor) -> np.ndarray:
    """exp(lp), with lp capped at 700 (exp would overflow to inf, and 0 × inf is NaN; any such risk is already ~1):
    for an account whose probability is taken at many increments, computed once."""
    return np.exp(np.minimum(np.asarray(linear_predictor), 700.0))


def churn_probability_at_risk(hazard_increment, risk) -> np.ndarray:
    """churn_probability with exp(lp) already taken (`relative_risk`): the same arithmetic, so the same values."""
    return -np.expm1(-np.asarray(hazard_increment) * risk)


def read_as_of(con: duckdb.DuckDBPyConnection) -> date:
    try:
        rows = execute_template(con, "risk_as_of").fetchall()
        value = rows[0] if rows else None
    except duckdb.CatalogException:
        raise RiskInputError("the database has no build_info, so no as-of date; pass as_of") from None
    if value is None or value[0] is None:
        raise RiskInputError("build_info holds no as-of date; pass as_of")
    return value[0]


def max_tenure_days(con: duckdb.DuckDBPyConnection) -> float:
    value = execute_template(con, "risk_panel_max_tenure").fetchall()[0][0]
    return float(value or 0.0)


# the build stores the current rows under this name (a lookup mart)
CURRENT_ROWS_TABLE = "current_panel_rows"


def current_rows(con: duckdb.DuckDBPyConnection, stored: bool = False) -> pd.DataFrame:
    """The latest panel row of each active account (tenure = its stop_day, MRR = the month's MRR), in account order:
    from account_months as it stands (a holdout cuts it at its cutoff), or with `stored`, the same rows as the
    build stored them (current_panel_rows), a read of a few hundred thousand rows instead of every account-month."""
    query = file_fragment("queries", "all_rows", table=identifier(CURRENT_ROWS_TABLE)) if stored \
        else file_fragment("40_marts", CURRENT_ROWS_TABLE)
    rows = execute_template(con, "rows_in_account_order", query=query).df()
    if rows.empty:
        raise RiskInputError("no active accounts with a panel row: every account has churned (or signed up today)")
    rows["tenure_days"] = rows["stop_day"].astype(int)
    return rows


def wilson_interval(events, n, z: float = Z_95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion (stays inside [0, 1], sensible at 0 events)."""
    events = np.asarray(events, dtype=float)
    n = np.asarray(n, dtype=float)
    p = events / n
    denominator = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denominator
    half = z / denominator * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


# ---------------------------------------------------------------------------------------------------
# why an account is at risk: factor contributions to its linear predictor


def _factor_groups(drivers: ServiceDrivers) -> dict[str, list[str]]:
    """Model terms grouped by the factor they belong to (plan's levels together, bad interactions' two)."""
    groups: dict[str, list[str]] = {}
    for term in drivers.design_.terms.itertuples():
        groups.setdefault(term.factor, []).append(term.term)
    return groups


def _describe(factor: str, rows: pd.DataFrame, positions: np.ndarray, typical) -> list[str]:
    """Plain words for one factor at the given rows: "first response 14.2 h (typical 3.1 h)"."""
    if factor.startswith("missing: "):
        measures = factor.removeprefix("missing: ").replace("_", " ")
        return [f"no {measures} measured in 90 days (typical: measured)"] * len(positions)
    if factor in FACTORS_BY_NAME:
        template, fmt = FACTORS_BY_NAME[factor].words
        values = rows[FACTORS_BY_NAME[factor].column].to_numpy(float)[positions]
        shown_typical = "not measured" if typical is None or pd.isna(typical) else fmt.format(typical)
        return [template.format(value="not measured" if math.isnan(v) else fmt.format(v), typical=shown_typical)
                for v in values]
    # an account covariate; for a category, "typical" is the level of the account at the median contribution
    values = rows[factor].to_numpy(object)[positions]
    return [f"{factor} {'(missing)' if pd.isna(v) else v} (typical {typical})" for v in values]


def top_factors(rows: pd.DataFrame, X: pd.DataFrame, drivers: ServiceDrivers, k: int = 2) -> pd.DataFrame:
    """The k factors that raise each account's risk most relative to a typical account.

    A factor's contribution is its terms' share of the linear predictor, Σ β_k x_k, minus the median of
    that over the accounts scored: for a one-term factor exactly β·(x − median x); for a factor with
    several terms (plan levels, bad-interaction counts) it compares the account's level with the typical
    one. Only positive contributions are named; fewer than k leave the column empty."""
    beta = drivers.model_.params_
    groups = _factor_groups(drivers)
    names = list(groups)
    contribution = np.column_stack([X[terms].to_numpy() @ beta[terms].to_numpy() for terms in groups.values()])
    median = np.median(contribution, axis=0)
    relative = contribution - median
    order = np.argsort(-relative, axis=1, kind="stable")[:, :k]
    chosen = np.take_along_axis(relative, order, axis=1)
    out = np.full((len(rows), k), None, dtype=object)  # fewer factors than k leave the rest empty
    middle = np.argsort(contribution, axis=0, kind="stable")[len(rows) // 2]  # the account at each median
    for j, factor in enumerate(names):
        hit = (order == j) & (chosen > 0)
        if not hit.any():
            continue
        positions, slots = np.nonzero(hit)
        if factor in FACTORS_BY_NAME:
            typical = float(np.nanmedian(rows[FACTORS_BY_NAME[factor].column].to_numpy(float)))
        elif factor.startswith("missing: "):
            typical = None
        else:
            typical = rows[factor].to_numpy(object)[middle[j]]
        out[positions, slots] = _describe(factor, rows, positions, typical)
    return pd.DataFrame({f"top_factor_{i + 1}": out[:, i] for i in range(k)}, index=rows.index)


# ---------------------------------------------------------------------------------------------------
# the model


class AccountRisk:
    """90-day churn risk of every active account. fit(con) returns self.

    Learned: accounts_ (one row per active account, ranked) and model_info_ (what store_risk records). Its
    check on a time split is `calibration.HoldoutCalibration`'s."""

    def __init__(self, horizon_days: int = HORIZON_DAYS, tail_days: int = TAIL_DAYS):
        if horizon_days <= 0:
            raise RiskInputError("need horizon_days > 0")
        self.horizon_days = horizon_days
        self.tail_days = tail_days

    def fit(self, con: duckdb.DuckDBPyConnection, drivers: ServiceDrivers | None = None,
            as_of: date | None = None, rows: pd.DataFrame | None = None) -> "AccountRisk":
        """rows (optional): `current_rows(con)` already read, e.g. the build's stored ones, which at a million
        accounts are read in a fraction of the time the latest month of every account is found again."""
        self.as_of_ = as_of or read_as_of(con)
        drivers = drivers if drivers is not None else ServiceDrivers().fit(con)
        rows = current_rows(con) if rows is None else rows
        hazard = BaselineHazard(drivers.model_, max_tenure_days(con), self.tail_days)
        X = design_matrix(rows, drivers)
        lp = drivers.model_.predict_log_partial_hazard(X.to_numpy())
        probability = churn_probability(hazard.increment(rows.tenure_days, self.horizon_days), lp)
        mrr = rows["mrr"].astype(float)
        n_without_mrr = int(mrr.isna().sum())
        arr = 12.0 * mrr.fillna(0.0)

        accounts = pd.DataFrame({
            "account_id": rows["account_id"].astype(str),
            "churn_probability": probability,
            "arr_at_risk": probability * arr.to_numpy(),
            "mrr": mrr.fillna(0.0),
            "arr": arr,
            "tenure_days": rows["tenure_days"],
        })
        accounts = pd.concat([accounts, top_factors(rows, X, drivers), rows[list(MEASURE_COLUMNS)]], axis=1)
        # segments ride along for filtering; one named like a column of ours (say "arr") is left out
        reserved = set(accounts.columns) | set(_account_risk_columns(self)) | _PANEL_COLUMNS | {"churn_probability"}
        segments = [c for c in rows.columns if c not in reserved]
        accounts = pd.concat([accounts, rows[segments]], axis=1)
        # probabilities equal in exact arithmetic (the same measures, both ends of the horizon in one tenure band)
        # can differ in the last bits with the order the panel was read in: equal to 12 decimals ranks by id
        accounts["rank_key"] = accounts["churn_probability"].round(12)
        accounts = accounts.sort_values(["rank_key", "account_id"], ascending=[False, True], kind="stable")
        accounts = accounts.drop(columns="rank_key")
        accounts.insert(1, "risk_rank", np.arange(1, len(accounts) + 1))
        self.accounts_ = accounts.reset_index(drop=True)
        self.segment_columns_ = segments

        notes = [f"probabilities hold each account's current measures (its latest month's 90-day measures) "
                 f"fixed over the next {self.horizon_days} days"]
        extended = hazard.n_extended(rows.tenure_days, self.horizon_days)
        if extended:
            notes.append(f"{extended:,} accounts' {self.horizon_days}-day horizon reaches past the largest tenure "
                         f"observed ({hazard.max_tenure_days_:,.0f} days), where the baseline hazard is not "
                         f"identified; it is extended with the average daily hazard of the last "
                         f"{self.tail_days} observed days")
        if n_without_mrr:
            notes.append(f"{n_without_mrr:,} accounts have no MRR and count as 0 ARR")
        self.notes_ = notes

        self.model_info_: dict[str, Any] = {  # stored as JSON in the build; the CLI prints its fields
            "model": "risk",
            "method": "90-day churn probability from the service drivers Cox model: "
                      "1 - exp(-(H0(tenure + h) - H0(tenure)) · exp(lp)), Breslow H0",
            "as_of": str(self.as_of_),
            "horizon_days": self.horizon_days,
            "n_accounts": int(len(accounts)),
            "expected_churned_accounts": float(probability.sum()),
            "expected_lost_arr": float(accounts.arr_at_risk.sum()),
            "max_observed_tenure_days": hazard.max_tenure_days_,
            "tail_daily_hazard": float(hazard.tail_rate_),
            "accounts_past_observed_tenure": extended,
            "notes": notes,
        }
        return self


# panel bookkeeping columns that are not segments
_PANEL_COLUMNS = {"month_start", "start_day", "stop_day", "churned"}

def _account_risk_columns(risk: AccountRisk | None) -> dict[str, str]:
    probability = f"churn_probability_{risk.horizon_days if risk else HORIZON_DAYS}d"
    columns = {"account_id": "varchar", "risk_rank": "bigint", probability: "double", "arr_at_risk": "double",
               "mrr": "double", "arr": "double", "tenure_days": "integer", "top_factor_1": "varchar",
               "top_factor_2": "varchar"}
    columns.update({c: "double" for c in MEASURE_COLUMNS})
    return columns


def store_risk(con: duckdb.DuckDBPyConnection, risk: AccountRisk | None, error: str | None = None) -> int:
    """Write account_risk and model_info['risk'] so the app reads scores, never refits.

    A model that could not be made stores empty tables and the reason, so the app can say why."""
    columns = _account_risk_columns(risk)
    if risk is None:
        _store_account_risk(con, pd.DataFrame({c: pd.Series(dtype=object) for c in columns}), columns, [])
        store_model_info(con, "risk", {"model": "risk", "error": error})
        return 0
    frame = risk.accounts_.rename(columns={"churn_probability": list(columns)[2]})
    # segment columns follow, typed as the panel has them (any names the user's file had, quoted)
    _store_account_risk(con, frame, columns, risk.segment_columns_)
    store_model_info(con, "risk", risk.model_info_)
    return len(frame)


def _store_account_risk(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, columns: dict[str, str],
                        segments: list[str]) -> None:
    typed = TrustedSql(", ".join(f"cast({quote_ident(c)} as {t}) as {quote_ident(c)}" for c, t in columns.items()))
    extra = TrustedSql("".join(f", {quote_ident(c)}" for c in segments))
    con.register("result_frame", frame)
    try:
        execute_template(con, "account_risk_table", typed_columns=typed, segment_columns=extra)
    finally:
        con.unregister("result_frame")
