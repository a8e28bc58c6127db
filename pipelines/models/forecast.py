"""Where the existing base is heading: how many of today's accounts are still customers in each coming month.

The model is a life table per segment: churn per account-month of exposure in each month of tenure (month k covers
tenure days [k·L, (k+1)·L), L = 365.25 / 12 days), estimated from what was known at the forecast's origin only (an
account that signed up or churned after it is not seen), so a forecast made at a past origin can be checked against
what then happened (`backtest`). A month of tenure with less than `min_exposure` account-months of exposure shares
the hazard of the months around it (pooled with its neighbours until the pool has enough); tenures past the longest
observed keep the last pool's hazard. The hazard averages over whatever moved churn in the history (service, case
mix, season), so it is calibrated for a future like the past, not for a change in pricing or a recession.

Each active account at the origin is followed month by month: in month m of the forecast it churns with
probability 1 − exp(−h) at the hazard h of its segment and of the tenure month the middle of that month falls in
(an account half-way through a tenure month spends most of the coming month in the next one). The intervals come
from a simulation with every source of uncertainty: each draw takes every hazard from its posterior given the
history (`hazard_shape`), the base's month-to-month swing in churn (`CalendarSwing`), and then which accounts churn
(binomial, month by month, among those left). Accounts of a segment with the same tenure at the origin share their
probabilities, so the simulation works on those groups, not on accounts.

MRR: each account's MRR in the origin's month; the accounts a group keeps hold the group's MRR in proportion (which
of a group's accounts churn is not told apart by MRR, so the interval leaves out how unequal their MRR is), and the
MRR of the accounts that stay moves by the month-on-month net change (expansion less contraction) of a month drawn
from the twelve before the origin, month by month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from ..churn_reasons import UNKNOWN
from ..errors import RetentionError
from ..filters import filter_predicate, filterable_columns, parse_filters, resolve_column
from ..sqlrun import TrustedSql, execute_template, query_text
from .sbg import SBGInputError, cohort_survivors
from .store import store_result

DAYS_PER_MONTH = 365.25 / 12
# a pool of tenure months is used once it holds this many account-months of exposure
MIN_EXPOSURE = 200.0
LEVELS = (0.80, 0.95)


class ForecastInputError(RetentionError, ValueError):
    """A forecast that cannot be made (no active account at the origin, an unknown segment); the message says why."""


@dataclass
class LifeTable:
    """Per segment, per pooled tenure band: its first and last tenure month, churns and exposure (account-months)."""

    bands: pd.DataFrame  # segment, first_month, last_month, churns, exposure_months
    # per band (the rows of `bands`), its churns by cause, one column per cause; None without churn causes
    cause_churns: pd.DataFrame | None = None

    def band_of(self, segment: str, tenure_month: np.ndarray) -> np.ndarray:
        """The row of `bands` each tenure month of the segment falls in (past the last band: the last one)."""
        if not hasattr(self, "_segment_bands"):  # asked for thousands of times: each segment's bands looked up once
            self._segment_bands = {name: (own.last_month.to_numpy(), own.index.to_numpy())
                                   for name, own in self.bands.groupby("segment", sort=False)}
        last_month, rows = self._segment_bands[segment]
        return rows[np.minimum(np.searchsorted(last_month, tenure_month, side="left"), len(rows) - 1)]


def _datetimes(column: pd.Series) -> pd.Series:
    """A column of dates as datetimes; one that is already (the build's are) as it is, since pandas would look
    through its values again on every call."""
    return column if pd.api.types.is_datetime64_any_dtype(column) else pd.to_datetime(column)


def read_accounts(con: duckdb.DuckDBPyConnection, segment: str | None, filters: list[str] | None = None) -> pd.DataFrame:
    """Every account's (or the filtered accounts') signup and churn dates, with its segment (one 'all' segment
    without one)."""
    columns = filterable_columns(con)
    column = TrustedSql("'all'") if segment is None else resolve_column(segment, columns, role="segment").sql
    predicate, params = filter_predicate(parse_filters(list(filters or []), columns))
    return execute_template(con, "forecast_accounts", params, segment=column, predicate=predicate).df()


def life_table(accounts: pd.DataFrame, origin: date, min_exposure: float = MIN_EXPOSURE) -> LifeTable:
    """Churns and exposure per segment and tenure month, from what was known at `origin`, pooled into bands."""
    origin_ts = pd.Timestamp(origin)
    known = accounts[_datetimes(accounts.signup_date) < origin_ts]
    signup = _datetimes(known.signup_date)
    churn = _datetimes(known.churn_date)
    churned = churn.notna() & (churn <= origin_ts)
    end = churn.where(churned, origin_ts)
    days = (end - signup).dt.days.to_numpy(float)
    causes = churn_causes(known[churned.to_numpy()])
    cause_of = (known.churn_cause.fillna(UNKNOWN).astype(str).to_numpy() if causes else None)
    rows: list[dict] = []
    cause_rows: list[dict[str, float]] = []
    for segment, positions in pd.Series(np.arange(len(known))).groupby(known.segment.fillna("(missing)").to_numpy()):
        d = days[positions.to_numpy()]
        events = churned.to_numpy()[positions.to_numpy()]
        n_months = int(np.ceil(d.max() / DAYS_PER_MONTH)) + 1 if len(d) else 1
        edges = np.arange(n_months + 1) * DAYS_PER_MONTH
        # exposure in each tenure month: the part of [edge_k, edge_k+1) each account lived through
        exposure = np.clip(d[:, None] - edges[None, :-1], 0, DAYS_PER_MONTH).sum(axis=0) / DAYS_PER_MONTH
        month_of_churn = np.minimum((d[events] // DAYS_PER_MONTH).astype(int), n_months - 1)
        churns = np.bincount(month_of_churn, minlength=n_months).astype(float)
        pooled = _pool(str(segment), churns, exposure, min_exposure)
        rows.extend(pooled)
        if cause_of is not None:
            event_causes = cause_of[positions.to_numpy()][events]
            by_month = {cause: np.bincount(month_of_churn[event_causes == cause], minlength=n_months)
                        for cause in causes}
            cause_rows.extend({cause: float(by_month[cause][band["first_month"]:band["last_month"] + 1].sum())
                               for cause in causes} for band in pooled)
    bands = pd.DataFrame(rows, columns=["segment", "first_month", "last_month", "churns", "exposure_months"])
    return LifeTable(bands, pd.DataFrame(cause_rows, columns=causes) if causes else None)


def churn_causes(churned_accounts: pd.DataFrame) -> list[str]:
    """The causes the churned accounts give, in a fixed order (none when the data give no churn reasons, or give
    every churn one cause: nothing to split)."""
    if "churn_cause" not in churned_accounts or churned_accounts.churn_cause.isna().all():
        return []
    causes = sorted(churned_accounts.churn_cause.fillna(UNKNOWN).astype(str).unique())
    return causes if len(causes) > 1 else []


def _pool(segment: str, churns: np.ndarray, exposure: np.ndarray, min_exposure: float) -> list[dict]:
    """Consecutive tenure months merged until each band has `min_exposure` account-months (a short last band joins
    the one before it)."""
    bands: list[dict] = []
    first, c, e = 0, 0.0, 0.0
    for month in range(len(exposure)):
        c, e = c + churns[month], e + exposure[month]
        if e >= min_exposure:
            bands.append({"segment": segment, "first_month": first, "last_month": month, "churns": c,
                          "exposure_months": e})
            first, c, e = month + 1, 0.0, 0.0
    if e > 0 or not bands:
        if bands:
            last = bands[-1]
            last.update(last_month=len(exposure) - 1, churns=last["churns"] + c,
                        exposure_months=last["exposure_months"] + e)
        else:
            bands.append({"segment": segment, "first_month": 0, "last_month": len(exposure) - 1, "churns": c,
                          "exposure_months": e})
    return bands


@dataclass
class CalendarSwing:
    """How churn across the whole base swings from month to month beyond what tenure and segment explain. The log
    ratio of churns seen to churns the life table expects, period by period before the origin, is the swing plus
    chance (a Poisson count's variance on the log scale, 1 / expected); the swing is an AR(1) with standard deviation
    sigma and month-to-month persistence phi: a state-space model, so chance in the counts neither inflates the
    swing nor hides its persistence. A few years of months pin sigma and phi down poorly (a persistent swing and a
    brief one can fit the same history), so rather than one best fit the forecast carries them all: `grid` holds
    each (sigma, phi) on a grid with its posterior weight (the Kalman filter's likelihood under flat priors on
    log sigma and phi) and where the swing stands at the origin under it (`start`, `start_variance`). The swing
    moves about a level the history measures only as well as its months allow: a swing that lasts makes a few
    years' average churn an uncertain guide to the next year's, more than the churns' count alone says. So the
    level is a second state (`level`, `level_variance`, and its `covariance` with the swing), constant, from a
    diffuse start. `sigma`, `phi` and `start` are their posterior means, for the notes."""

    sigma: float
    phi: float
    start: float
    periods: pd.DataFrame  # period_end, churns, expected, log_ratio
    grid: pd.DataFrame | None = None  # sigma, phi, weight, level, level_variance, start, start_variance, covariance

    def draw(self, rng: np.random.Generator, draws: int, months: int) -> np.ndarray:
        """(draws, months) multipliers of every hazard: exp of the level plus the swing, each draw under a (sigma,
        phi) drawn from the posterior, from where both stand at the origin (each draw its own values)."""
        if self.grid is None or self.sigma == 0.0:
            return np.ones((draws, months))
        picked = self.grid.iloc[rng.choice(len(self.grid), size=draws, p=self.grid.weight.to_numpy())]
        sigma, phi = picked.sigma.to_numpy(), picked.phi.to_numpy()
        # the level and the swing at the origin: correlated normals (a 2×2 Cholesky factor per draw)
        level_sd = np.sqrt(picked.level_variance.to_numpy())
        shared = picked.covariance.to_numpy() / level_sd
        own = np.sqrt(np.maximum(picked.start_variance.to_numpy() - shared ** 2, 0.0))
        z = rng.standard_normal((2, draws))
        level = picked.level.to_numpy() + level_sd * z[0]
        previous = picked.start.to_numpy() + shared * z[0] + own * z[1]
        innovation = sigma * np.sqrt(1.0 - phi ** 2)
        swing = np.empty((draws, months))
        for m in range(months):
            previous = phi * previous + innovation * rng.standard_normal(draws)
            swing[:, m] = level + previous
        return np.exp(swing)


# the level's prior variance on the log scale: wide enough that the history alone places it
DIFFUSE_LEVEL_VARIANCE = 1e4
# a swing whose posterior mean sd is below this (a twentieth of the hazard) goes unmentioned in the notes
NOTABLE_SWING = 0.05
# the periods before the origin the swing is measured over
SWING_PERIODS = 36
# the grid the swing's parameters are weighed on: sd from no swing to far more than any base shows, persistence from
# none to nearly a random walk
SWING_SIGMAS = np.exp(np.linspace(np.log(0.005), np.log(1.0), 30))
SWING_PHIS = np.linspace(0.0, 0.98, 30)


def calendar_swing(accounts: pd.DataFrame, origin: date, table: LifeTable, periods: int = SWING_PERIODS) -> CalendarSwing:
    """The base's month-to-month swing in churn before `origin` (periods of L days counted back from it), against
    the churn the life table expects of the accounts at risk in each, given their segment and tenure."""
    origin_ts = pd.Timestamp(origin)
    known = accounts[_datetimes(accounts.signup_date) < origin_ts]
    signup = _datetimes(known.signup_date).to_numpy("datetime64[D]")
    churn = _datetimes(known.churn_date)
    churned = (churn.notna() & (churn <= origin_ts)).to_numpy()
    end = churn.where(churn.notna() & (churn <= origin_ts), origin_ts).to_numpy("datetime64[D]")
    origin_day = np.datetime64(origin_ts.date(), "D")
    # days before the origin of each account's signup and end
    start_back = (origin_day - signup).astype(float)
    end_back = (origin_day - end).astype(float)
    codes, names = pd.factorize(known.segment.fillna("(missing)").astype(str))
    hazard = (table.bands.churns / table.bands.exposure_months).to_numpy()
    rows = []
    for p in range(periods):
        near, far = p * DAYS_PER_MONTH, (p + 1) * DAYS_PER_MONTH  # the period is (far, near] days before the origin
        exposure = np.clip(np.minimum(start_back, far) - np.maximum(end_back, near), 0, None) / DAYS_PER_MONTH
        lived = exposure > 0
        if not lived.any():
            break
        tenure_month = ((start_back[lived] - (near + far) / 2) // DAYS_PER_MONTH).clip(0).astype(int)
        expected = 0.0
        lived_codes, lived_exposure = codes[lived], exposure[lived]
        for code, segment in enumerate(names):
            own = lived_codes == code
            if own.any():
                expected += float(lived_exposure[own] @ hazard[table.band_of(segment, tenure_month[own])])
        churns = int((churned & (end_back >= near) & (end_back < far)).sum())
        rows.append({"period_end": (origin_ts - pd.Timedelta(days=near)).date(), "churns": churns,
                     "expected": expected})
    frame = pd.DataFrame(rows, columns=["period_end", "churns", "expected"])
    if len(frame) < 6 or frame.expected.min() <= 0:
        return CalendarSwing(0.0, 0.0, 0.0, frame.assign(log_ratio=np.nan))
    # log(churns + 1/2) is nearly unbiased for the log of a Poisson mean; the expected count is no count, so it
    # takes nothing (a half added there would read every thin early month as low churn)
    frame["log_ratio"] = np.log((frame.churns + 0.5) / frame.expected)
    oldest_first = frame.iloc[::-1]
    chance = (1.0 / oldest_first.expected).to_numpy()
    # measured from the months' average as precisely as each month knows it, as the filter weighs them
    centre = float(np.average(oldest_first.log_ratio, weights=1.0 / chance))
    ratio = (oldest_first.log_ratio - centre).to_numpy()
    sigma, phi = (grid.ravel() for grid in np.meshgrid(SWING_SIGMAS, SWING_PHIS))
    log_likelihood, mean, covariance = _kalman(ratio, chance, sigma, phi)
    weight = np.exp(log_likelihood - log_likelihood.max())
    weight /= weight.sum()
    # the level is as uncertain as chance alone makes it (one over the churns expected in all) plus what the swing
    # adds; the hazards' own posteriors carry chance already, so the level carries only the swing's part
    grid = pd.DataFrame({"sigma": sigma, "phi": phi, "weight": weight, "level": mean[:, 0],
                         "level_variance": np.maximum(covariance[:, 0, 0] - 1.0 / np.sum(1.0 / chance), 1e-12),
                         "start": mean[:, 1],
                         "start_variance": covariance[:, 1, 1], "covariance": covariance[:, 0, 1]})
    grid = grid[grid.weight > 1e-6 * grid.weight.max()]
    grid = grid.assign(weight=grid.weight / grid.weight.sum()).reset_index(drop=True)
    return CalendarSwing(float(grid.sigma @ grid.weight), float(grid.phi @ grid.weight),
                         float(grid.start @ grid.weight), frame, grid)


def _kalman(observed: np.ndarray, noise: np.ndarray, sigma: np.ndarray, phi: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each (sigma, phi) pair: the log-likelihood of `observed` = a constant level (diffuse start) + an AR(1)
    swing (sd sigma, persistence phi, stationary start) + independent noise of variance `noise`, and the filtered
    state's mean (level, swing) and 2×2 covariance after the last observation."""
    count = sigma.size
    mean = np.zeros((count, 2))
    covariance = np.zeros((count, 2, 2))
    covariance[:, 0, 0], covariance[:, 1, 1] = DIFFUSE_LEVEL_VARIANCE, sigma ** 2
    step = sigma ** 2 * (1.0 - phi ** 2)
    log_likelihood = np.zeros(count)
    for t, (z, r) in enumerate(zip(observed, noise)):
        if t:  # the level stays; the swing decays and takes a new shock
            mean[:, 1] *= phi
            covariance[:, 0, 1] *= phi
            covariance[:, 1, 0] = covariance[:, 0, 1]
            covariance[:, 1, 1] = phi ** 2 * covariance[:, 1, 1] + step
        towards = covariance[:, :, 0] + covariance[:, :, 1]  # cov(state, level + swing)
        total = towards[:, 0] + towards[:, 1] + r
        innovation = z - mean[:, 0] - mean[:, 1]
        # the diffuse start's own term is the same for every pair: left out, so the weights compare like with like
        if t:
            log_likelihood -= 0.5 * (np.log(2 * np.pi * total) + innovation ** 2 / total)
        gain = towards / total[:, None]
        mean += gain * innovation[:, None]
        covariance -= gain[:, :, None] * towards[:, None, :]
    # one step on to the first month after the origin is the simulation's: it starts from the last period's state
    return log_likelihood, mean, covariance


# a band's split of churn among causes leans on its segment's split as on this many churns: a month of tenure with
# a handful of churns says little about its own split
CAUSE_PRIOR_CHURNS = 10.0


def cause_shares(table: LifeTable, draws: int, seed: int) -> tuple[list[str], np.ndarray]:
    """The churn causes and, for each draw, each band's split of its churn among them, drawn from its posterior
    (Dirichlet, a priori its segment's split over all tenures as CAUSE_PRIOR_CHURNS churns), from a generator of
    its own so the other draws are unchanged: (causes, array (draws, bands, causes)); no causes, an empty array,
    without churn reasons."""
    if table.cause_churns is None:
        return [], np.zeros((draws, len(table.bands), 0))
    counts = table.cause_churns.to_numpy(float)
    segment_counts = table.cause_churns.groupby(table.bands.segment.to_numpy()).transform("sum").to_numpy(float)
    segment_split = (segment_counts + 0.5) / (segment_counts + 0.5).sum(axis=1, keepdims=True)
    counts = counts + CAUSE_PRIOR_CHURNS * segment_split
    weights = np.random.default_rng(seed + 3).gamma(counts[None, :, :], size=(draws,) + counts.shape)
    return list(table.cause_churns.columns), weights / weights.sum(axis=2, keepdims=True)


def hazard_shape(churns: np.ndarray) -> np.ndarray:
    """The gamma posterior's shape for a band's hazard given its churns (its rate is the band's exposure): under a
    prior flat on the log of the hazard the posterior mean is the observed rate, unbiased, where Jeffreys' prior
    (half a churn more) would raise a band of a few churns by a tenth; a band that saw no churn takes Jeffreys'
    half, as a proper posterior needs one."""
    return np.where(churns > 0, churns, 0.5)


class ExistingBaseForecast:
    """The accounts active at the origin still customers after each of the next `months` months, with 80% and 95%
    intervals from `draws` seeded simulations. fit(accounts, origin) returns self with series_ (month,
    active_accounts estimate and bounds, churned_accounts likewise) and n_active_."""

    def __init__(self, months: int = 12, draws: int = 2000, seed: int = 0, min_exposure: float = MIN_EXPOSURE,
                 kept_share: np.ndarray | None = None, kept_months: int = 12):
        if months < 1:
            raise ForecastInputError("forecast at least one month ahead")
        if draws < 100:
            raise ForecastInputError("give at least 100 draws: the 95% interval needs the tails")
        self.months = months
        self.draws = draws
        self.seed = seed
        self.min_exposure = min_exposure
        # a change to carry (draws of the share of the base's churn over its first `kept_months` months that it
        # keeps, from whatif_kept_shares), or None for the future as it goes
        self.kept_share = kept_share
        self.kept_months = kept_months

    def fit(self, accounts: pd.DataFrame, origin: date, mrr: pd.DataFrame | None = None) -> "ExistingBaseForecast":
        """`accounts` from read_accounts; `mrr` (optional, from read_mrr) adds the base's MRR and ARR."""
        table = life_table(accounts, origin, self.min_exposure)
        origin_ts = pd.Timestamp(origin)
        signup = _datetimes(accounts.signup_date)
        active = active_at(accounts, origin)
        if not active.any():
            raise ForecastInputError(f"no account is active at {origin}: nothing to forecast")
        tenure_days = (origin_ts - signup[active]).dt.days.to_numpy(float)
        members = pd.DataFrame({"segment": accounts.segment[active].fillna("(missing)").astype(str).to_numpy(),
                                "tenure_month": np.floor(tenure_days / DAYS_PER_MONTH + 0.5).astype(int),
                                "mrr": 0.0 if mrr is None else mrr_at(mrr, accounts.account_key[active], origin)})
        groups = members.groupby(["segment", "tenure_month"], as_index=False).agg(
            accounts=("mrr", "size"), mrr=("mrr", "sum"))
        rng = np.random.default_rng(self.seed)
        bands = table.bands
        # each draw's hazard of every band: its posterior given the history
        hazards = rng.gamma(hazard_shape(bands.churns.to_numpy()), 1.0 / bands.exposure_months.to_numpy(),
                            size=(self.draws, len(bands)))
        if self.kept_share is not None:
            # from a generator of its own, so every other draw is the one the forecast without the change makes
            share = np.random.default_rng(self.seed + 2).choice(np.asarray(self.kept_share, float), size=self.draws)
            hazards = hazards * hazard_ratio_keeping(share, table, groups, self.kept_months)[:, None]
        # the whole base's swing from month to month, continued from where it stands at the origin
        self.swing_ = calendar_swing(accounts, origin, table)
        swing = self.swing_.draw(rng, self.draws, self.months)
        alive = np.broadcast_to(groups.accounts.to_numpy(), (self.draws, len(groups))).astype(np.int64)
        active_by_month = np.empty((self.draws, self.months))
        mrr_by_month = np.empty((self.draws, self.months))
        rates = self._growth_draws(rng, mrr, origin)
        growth = np.cumprod(1.0 + rates[:, :, 0], axis=1)
        contraction = np.cumprod(1.0 + rates[:, :, 1], axis=1)
        kept_by_month = np.empty((self.draws, self.months))
        mrr_per_account = (groups.mrr / groups.accounts).to_numpy()
        rows_of = {segment: (groups.segment == segment).to_numpy() for segment in groups.segment.unique()}
        # each draw's expected accounts left given its churn rates and swing, without the chance of which churn:
        # what a change moves (change_difference), free of the binomial noise two simulations would not share
        expected = alive.astype(float)
        self.expected_draws_ = np.empty((self.draws, self.months))
        self.expected_mrr_draws_ = np.empty((self.draws, self.months))
        self.causes_, self.cause_shares_ = cause_shares(table, self.draws, self.seed)
        churned_by_cause = np.zeros((self.draws, self.months, len(self.causes_)))
        for m in range(self.months):
            band = np.empty(len(groups), dtype=int)
            for segment, rows in rows_of.items():
                band[rows] = table.band_of(segment, groups.tenure_month.to_numpy()[rows] + m)
            probability = 1.0 - np.exp(-hazards[:, band] * swing[:, m:m + 1])
            lost = rng.binomial(alive, probability)
            alive = alive - lost
            if self.causes_:
                churned_by_cause[:, m, :] = np.einsum("dg,dgc->dc", lost, self.cause_shares_[:, band, :])
            expected = expected * (1.0 - probability)
            active_by_month[:, m] = alive.sum(axis=1)
            kept_by_month[:, m] = alive @ mrr_per_account
            mrr_by_month[:, m] = kept_by_month[:, m] * growth[:, m]
            self.expected_draws_[:, m] = expected.sum(axis=1)
            self.expected_mrr_draws_[:, m] = (expected @ mrr_per_account) * growth[:, m]
        n_active = int(groups.accounts.sum())
        self.n_active_ = n_active
        self.table_ = table
        self.draws_ = active_by_month
        starting_mrr = float(groups.mrr.sum())
        rows = []
        for m in range(self.months):
            values = active_by_month[:, m]
            row = {"month": m + 1, "active_accounts": _summary(values),
                   "churned_accounts": _summary(n_active - values)}
            if mrr is not None:
                row["mrr"] = _summary(mrr_by_month[:, m])
                row["arr"] = _summary(12.0 * mrr_by_month[:, m])
                if starting_mrr > 0:
                    # of the base's MRR at the origin: what the staying accounts keep, without and with expansion
                    row["gross_revenue_retention"] = _summary(kept_by_month[:, m] * contraction[:, m] / starting_mrr)
                    row["net_revenue_retention"] = _summary(mrr_by_month[:, m] / starting_mrr)
            rows.append(row)
        self.churned_by_cause_draws_ = np.cumsum(churned_by_cause, axis=1)
        self.series_ = rows
        self.starting_mrr_ = starting_mrr
        self.mrr_draws_ = mrr_by_month
        self.hazard_draws_, self.swing_draws_, self.growth_draws_ = hazards, swing, growth
        return self

    def _growth_draws(self, rng: np.random.Generator, mrr: pd.DataFrame | None, origin: date) -> np.ndarray:
        """(draws, months, 2) MRR change rates of the accounts that stay, net and contraction alone: each month's a
        month drawn from the twelve before the origin (none without an MRR history)."""
        if mrr is None:
            return np.zeros((self.draws, self.months, 2))
        rates = retained_growth(mrr, origin)
        if len(rates) == 0:
            return np.zeros((self.draws, self.months, 2))
        return rates[rng.integers(0, len(rates), size=(self.draws, self.months))]


def read_mrr(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every account's MRR in each calendar month it was a customer."""
    return execute_template(con, "forecast_mrr").df()


def _month_of(day) -> pd.Timestamp:
    return pd.Timestamp(day).to_period("M").to_timestamp()


def mrr_at(mrr: pd.DataFrame, keys: pd.Series, day) -> np.ndarray:
    """Each account's MRR in the calendar month holding `day` (0 where it has none)."""
    month = mrr[_datetimes(mrr.month_start) == _month_of(day)].drop_duplicates("account_key")
    return keys.map(month.set_index("account_key").mrr).fillna(0.0).to_numpy(float)


def retained_growth(mrr: pd.DataFrame, origin: date, months: int = 12) -> np.ndarray:
    """(k, 2): for each of `months` calendar months before the origin's with MRR to compare, the net change in MRR of
    the accounts that were customers in it and the month before and were still customers STAYING_MONTHS later (by
    the origin's month: nothing after it is read), and their contraction alone, each as a share of their MRR the
    month before. An account about to churn often shrinks first: the forecast takes the churning accounts out
    separately, so the change it applies is that of the accounts that stay."""
    last = _month_of(origin) - pd.DateOffset(months=STAYING_MONTHS)
    month = _datetimes(mrr.month_start)
    window = mrr[(month >= last - pd.DateOffset(months=months)) & (month <= _month_of(origin))]
    # each month's MRR by account, read once
    by_month = {when: own.drop_duplicates("account_key").set_index("account_key").mrr
                for when, own in window.groupby(_datetimes(window.month_start))}
    empty = pd.Series(dtype=float)
    rates = []
    for k in range(months):
        when = last - pd.DateOffset(months=k)
        before = by_month.get(when - pd.DateOffset(months=1), empty)
        now = by_month.get(when, empty)
        later = by_month.get(when + pd.DateOffset(months=STAYING_MONTHS), empty)
        keys = before.index.intersection(now.index).intersection(later.index)
        base = float(before.loc[keys].sum())
        if base > 0:
            change = now.loc[keys].to_numpy() - before.loc[keys].to_numpy()
            rates.append((float(change.sum()) / base, float(np.minimum(change, 0).sum()) / base))
    return np.array(rates).reshape(-1, 2)


def active_at(accounts: pd.DataFrame, origin: date) -> pd.Series:
    """Which accounts were customers at the origin: signed up before it, not churned by it."""
    origin_ts = pd.Timestamp(origin)
    churn = _datetimes(accounts.churn_date)
    return (_datetimes(accounts.signup_date) < origin_ts) & (churn.isna() | (churn > origin_ts))


def _summary(values: np.ndarray) -> dict[str, float]:
    """The mean and the 80% and 95% intervals (percentiles) of the simulated values."""
    tails = [(1 - level) / 2 * 100 for level in LEVELS]
    bounds = np.percentile(values, tails + [100 - tail for tail in tails])
    out = {"estimate": float(values.mean())}
    for k, level in enumerate(LEVELS):
        name = f"{int(round(level * 100))}"
        out[f"lower_{name}"], out[f"upper_{name}"] = float(bounds[k]), float(bounds[len(LEVELS) + k])
    return out


def actual_active(accounts: pd.DataFrame, origin: date, months: int) -> np.ndarray:
    """Of the accounts active at `origin`, how many were still customers after each of the next `months` months
    (month m ends m·L days after the origin, as the forecast's months do)."""
    origin_ts = pd.Timestamp(origin)
    churn = _datetimes(accounts.churn_date)
    active = active_at(accounts, origin)
    ends = [origin_ts + pd.Timedelta(days=m * DAYS_PER_MONTH) for m in range(1, months + 1)]
    churn_active = churn[active]
    return np.array([int((churn_active.isna() | (churn_active > end)).sum()) for end in ends])


def actual_mrr(accounts: pd.DataFrame, mrr: pd.DataFrame, origin: date, months: int) -> np.ndarray:
    """The MRR, in the calendar month each of the next `months` months ends in, of the accounts active at `origin`
    still customers then."""
    origin_ts = pd.Timestamp(origin)
    churn = _datetimes(accounts.churn_date)
    active = active_at(accounts, origin)
    out = []
    for m in range(1, months + 1):
        end = origin_ts + pd.Timedelta(days=m * DAYS_PER_MONTH)
        staying = active & (churn.isna() | (churn > end))
        out.append(float(mrr_at(mrr, accounts.account_key[staying], end).sum()))
    return np.array(out)


def backtest_origins(as_of: date, origins: int, months: int) -> list[date]:
    """Past origins a month apart, the latest `months` months before as-of, so every month forecast has happened."""
    last_origin = pd.Timestamp(as_of) - pd.Timedelta(days=months * DAYS_PER_MONTH)
    return [(last_origin - pd.Timedelta(days=j * DAYS_PER_MONTH)).date() for j in range(origins)]


def backtest(accounts: pd.DataFrame, as_of: date, origins: int = 12, months: int = 6, draws: int = 1000,
             seed: int = 0, mrr: pd.DataFrame | None = None) -> pd.DataFrame:
    """Forecast from each of `origins` past origins (one month apart, the latest `months` months before as-of, so
    every forecast month has happened) on what was known then, and set each month beside what happened: one row
    per origin and month ahead with the forecast, its intervals and the actual active accounts."""
    rows = []
    for j, origin in enumerate(backtest_origins(as_of, origins, months)):
        forecast = ExistingBaseForecast(months=months, draws=draws, seed=seed + j).fit(accounts, origin, mrr)
        actual = actual_active(accounts, origin, months)
        happened_mrr = actual_mrr(accounts, mrr, origin, months) if mrr is not None else [None] * months
        for point, happened, revenue in zip(forecast.series_, actual, happened_mrr):
            active = point["active_accounts"]
            row = {"origin": origin, "month": point["month"], "actual": int(happened), **active,
                   "in_80": active["lower_80"] <= happened <= active["upper_80"],
                   "in_95": active["lower_95"] <= happened <= active["upper_95"]}
            if revenue is not None:
                forecast_mrr = point["mrr"]
                row.update(actual_mrr=revenue, mrr_estimate=forecast_mrr["estimate"],
                           mrr_in_80=forecast_mrr["lower_80"] <= revenue <= forecast_mrr["upper_80"],
                           mrr_in_95=forecast_mrr["lower_95"] <= revenue <= forecast_mrr["upper_95"])
            rows.append(row)
    return pd.DataFrame(rows)


# the MRR change the forecast applies is that of accounts still customers this many months later
STAYING_MONTHS = 3

# the periods before the origin new business's trend is read from
NEW_BUSINESS_PERIODS = 24


class NewBusinessForecast:
    """The accounts that will sign up after the origin, and how many of them stay: each month's new accounts from
    the trend of the last two years' (`signup_level`: its uncertainty and the months' scatter about it, then Poisson
    chance), split across segments as those months' were (the split drawn from its posterior: a recent split is a
    sample too), each segment's accounts with its recent average first MRR (drawn with its sampling error, and a
    month's accounts spread about it as single accounts do), then followed by the same life table, swing and MRR
    change as the existing base (the draws of `base`, so both parts share each draw's view of the future)."""

    def fit(self, accounts: pd.DataFrame, origin: date, base: ExistingBaseForecast,
            mrr: pd.DataFrame | None = None) -> "NewBusinessForecast":
        rng = np.random.default_rng(base.seed + 1)
        origin_ts = pd.Timestamp(origin)
        signup = _datetimes(accounts.signup_date)
        days_before = (origin_ts - signup).dt.days.to_numpy(float)
        # whole periods since the first signup only: one before the business began would read as a rise from nothing
        known = days_before[days_before > 0]
        n_periods = int(min(NEW_BUSINESS_PERIODS, known.max() // DAYS_PER_MONTH if known.size else 0))
        recent = (days_before > 0) & (days_before <= n_periods * DAYS_PER_MONTH)
        period = (days_before[recent] // DAYS_PER_MONTH).astype(int)
        counts = np.bincount(period, minlength=n_periods)[:n_periods]
        segments = accounts.segment[recent].fillna("(missing)").astype(str)
        names = sorted(segments.unique())
        draws, months, table = base.draws, base.months, base.table_
        # each draw's split of new accounts across segments: the recent split is itself a sample (Dirichlet)
        signups = segments.value_counts().reindex(names).to_numpy(float)
        shares = rng.dirichlet(signups + 0.5, size=draws) if names else np.zeros((draws, 0))
        if mrr is not None and recent.any():
            first = pd.Series(mrr_first(mrr, accounts.account_key[recent], accounts.signup_date[recent]),
                              index=segments.index).groupby(segments)
            first_mean = first.mean().reindex(names).fillna(0.0).to_numpy()
            first_sd = first.std().reindex(names).fillna(0.0).to_numpy()
        else:
            first_mean = first_sd = np.zeros(len(names))
        # each draw's average first MRR per segment: the recent average with its sampling error
        segment_mrr = first_mean + first_sd / np.sqrt(np.maximum(signups, 1)) * rng.standard_normal((draws, len(names)))
        # fewer than three whole months of history cannot say how fast new accounts come: none are forecast
        expected = (signup_level(counts[::-1], months, draws, rng) if len(counts) >= 3
                    else np.zeros((draws, months)))
        band_index = {name: table.band_of(name, np.arange(months)) for name in names}
        active = np.zeros((draws, months))
        revenue = np.zeros((draws, months))
        joined = np.zeros((draws, months))
        cohorts: list[np.ndarray] = []  # per cohort (month it signed up), alive by segment: (draws, segments)
        cohort_mrr: list[np.ndarray] = []  # per cohort, its accounts' average first MRR by segment
        # every cohort is drawn before anyone churns, so a forecast with a change draws the same new business
        for m in range(months if names else 0):
            cohorts.append(rng.multinomial(rng.poisson(expected[:, m]), shares))
            joined[:, m] = cohorts[-1].sum(axis=1)
            # k accounts' average first MRR differs from the segment's by their own spread over √k
            spread = first_sd / np.sqrt(np.maximum(cohorts[-1], 1)) * rng.standard_normal(cohorts[-1].shape)
            cohort_mrr.append(np.maximum(segment_mrr + spread, 0.0))
        expected_left = [cohort.astype(float) for cohort in cohorts]  # as the base's expected_draws_
        churned_by_cause = np.zeros((draws, months, len(base.causes_)))
        self.expected_draws_ = np.zeros((draws, months))
        self.expected_mrr_draws_ = np.zeros((draws, months))
        for m in range(months if names else 0):
            for c in range(m + 1):
                alive, tenure = cohorts[c], m - c
                # accounts join through their first month: on average half of it at risk
                exposure = 0.5 if tenure == 0 else 1.0
                for j, name in enumerate(names):
                    band = band_index[name][tenure]
                    probability = 1.0 - np.exp(-base.hazard_draws_[:, band] * base.swing_draws_[:, m] * exposure)
                    lost = rng.binomial(alive[:, j], probability)
                    alive[:, j] -= lost
                    expected_left[c][:, j] *= 1.0 - probability
                    if base.causes_:
                        churned_by_cause[:, m, :] += lost[:, None] * base.cause_shares_[:, band, :]
                # a cohort's MRR moves with the staying accounts' change from the month after it joined
                change = base.growth_draws_[:, m] / base.growth_draws_[:, c]
                active[:, m] += alive.sum(axis=1)
                revenue[:, m] += (alive * cohort_mrr[c]).sum(axis=1) * change
                self.expected_draws_[:, m] += expected_left[c].sum(axis=1)
                self.expected_mrr_draws_[:, m] += (expected_left[c] * cohort_mrr[c]).sum(axis=1) * change
        self.draws_, self.mrr_draws_ = active, revenue
        self.joined_draws_ = np.cumsum(joined, axis=1)
        self.churned_by_cause_draws_ = np.cumsum(churned_by_cause, axis=1)
        self.monthly_new_accounts_ = counts[::-1]
        self.segments_ = names
        return self


def mrr_first(mrr: pd.DataFrame, keys: pd.Series, signup_dates: pd.Series) -> np.ndarray:
    """Each account's MRR in its signup month (0 where it has none or it is unknown; the first row where an account
    has two for a month). Each (account, month) is one integer, so the lookup is a sort and a binary search: a
    pandas index of the pairs took most of the forecast's time at a million accounts."""
    row_key = mrr.account_key.to_numpy(np.int64) * _KEY_MONTHS + _month_number(mrr.month_start)
    pair_key, first_row = np.unique(row_key, return_index=True)  # the first occurrence of each pair
    wanted = keys.to_numpy(np.int64) * _KEY_MONTHS + _month_number(signup_dates)
    if pair_key.size == 0:
        return np.zeros(wanted.size)
    at = np.minimum(np.searchsorted(pair_key, wanted), pair_key.size - 1)
    value = mrr.mrr.to_numpy(float)[first_row[at]]
    return np.where((pair_key[at] == wanted) & ~np.isnan(value), value, 0.0)


# months in an account's share of the (account, month) keys: every month of the years 0 to 9999
_KEY_MONTHS = 12 * 10_000


def _month_number(dates: pd.Series) -> np.ndarray:
    """Each date's calendar month as one integer (year × 12 + month − 1)."""
    values = _datetimes(dates)
    return values.dt.year.to_numpy(np.int64) * 12 + values.dt.month.to_numpy(np.int64) - 1


def signup_level(counts: np.ndarray, months: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws, months) expected new accounts per month after the origin, from the past periods' counts (oldest
    first): a log-linear trend through them (a business's signups grow or shrink: a level alone lags), each draw
    with its intercept and slope from their least-squares covariance, and each month scattered about it as the past
    months were beyond Poisson chance."""
    counts = np.asarray(counts, float)
    y = np.log(counts + 0.5)
    t = np.arange(len(y)) - (len(y) - 1.0)  # the latest period is 0
    X = np.column_stack([np.ones(len(y)), t])
    coef = np.linalg.lstsq(X, y, rcond=None)[0].astype(float)
    residual = y - X @ coef
    scatter = float(np.sqrt(residual @ residual / max(len(y) - 2, 1)))
    covariance = (scatter ** 2 * np.linalg.inv(X.T @ X)).astype(float)
    params = rng.multivariate_normal(coef, covariance, size=draws)
    ahead = np.arange(1, months + 1)
    # the scatter beyond chance: the residuals' variance less a Poisson count's on the log scale
    extra = np.sqrt(max(scatter ** 2 - float(np.mean(1.0 / (counts + 0.5))), 0.0))
    log_mean = params[:, :1] + params[:, 1:] * ahead[None, :] + extra * rng.standard_normal((draws, months))
    return np.exp(log_mean - extra ** 2 / 2)


# the segment the hazards are estimated within when the build has it: plans differ most in churn
DEFAULT_SEGMENT = "plan"


def month_end(origin: date, month: int) -> date:
    """The day the forecast's month `month` ends: `month` twelfths of a year after the origin."""
    return (pd.Timestamp(origin) + pd.Timedelta(days=month * DAYS_PER_MONTH)).date()


def month_label(origin: date, month: int) -> str:
    """The calendar month (YYYY-MM) the forecast's month `month` ends in."""
    return month_end(origin, month).strftime("%Y-%m")


# a cause's churned accounts in the forecast's long frame: this prefix, then the cause
CAUSE_MEASURE_PREFIX = "churned_accounts:"


def flat_measures(row: dict) -> list[tuple[str, dict]]:
    """A month of the forecast's series as (measure, summary) pairs, churn by cause as one measure per cause."""
    pairs = []
    for measure, value in row.items():
        if measure == "churned_by_cause":
            pairs += [(CAUSE_MEASURE_PREFIX + cause, summary) for cause, summary in value.items()]
        elif isinstance(value, dict):
            pairs.append((measure, value))
    return pairs


def whatif_kept_shares(kept: np.ndarray, expected_churned: float) -> np.ndarray:
    """A what-if's draws of accounts kept as draws of the share of its horizon's expected churn the change keeps
    (negative for a change that loses accounts)."""
    if not expected_churned > 0:
        raise ForecastInputError("the what-if expects no churn among its accounts: there is no change to forecast")
    return np.minimum(np.asarray(kept, float) / expected_churned, 1.0 - 1e-9)


# how far a change's ratio of every hazard is searched for: from none of the churn to ten times as much
RATIO_SEARCH = (0.0, 10.0)


def hazard_ratio_keeping(share: np.ndarray, table: LifeTable, groups: pd.DataFrame, months: int) -> np.ndarray:
    """For each share, the ratio r by which scaling every hazard keeps that share of the base's expected churn over
    its first `months` months at the life table's rates: Σ n_g (1 − exp(−r·H_g)) = (1 − share) Σ n_g (1 − exp(−H_g)),
    H_g a group's cumulative hazard over those months. One ratio for every account, found so that the base as a
    whole keeps what the what-if keeps: accounts whose churn is likelier keep more of it, as under the what-if's
    own proportional hazards."""
    rates = (table.bands.churns / table.bands.exposure_months).to_numpy()
    cumulative = np.zeros(len(groups))
    for segment in groups.segment.unique():
        rows = (groups.segment == segment).to_numpy()
        tenure = groups.tenure_month.to_numpy()[rows]
        cumulative[rows] = sum(rates[table.band_of(segment, tenure + m)] for m in range(months))
    accounts = groups.accounts.to_numpy(float)

    def churn_at(ratio: np.ndarray) -> np.ndarray:
        return (accounts * -np.expm1(-np.outer(ratio, cumulative))).sum(axis=1)

    grid = np.linspace(float(np.min(share)), float(np.max(share)), 64) if np.ptp(share) > 0 else np.array([share[0]])
    target = (1.0 - grid) * churn_at(np.array([1.0]))[0]
    low, high = np.full(grid.size, RATIO_SEARCH[0]), np.full(grid.size, RATIO_SEARCH[1])
    for _ in range(60):  # bisection: churn rises with the ratio
        middle = (low + high) / 2
        above = churn_at(middle) > target
        high, low = np.where(above, middle, high), np.where(above, low, middle)
    return np.interp(share, grid, (low + high) / 2)


def change_difference(with_change: "RetentionForecast", without: "RetentionForecast") -> pd.DataFrame:
    """What a change adds to the forecast, draw by draw: both made with the same seed, so their draws share the churn
    rates, the swing and new business, and each draw's expected accounts and MRR differ by the change alone (its
    ratio's uncertainty included; which accounts happen to churn is left out, as the what-if leaves it out). One row
    per month ahead and measure (accounts_kept, mrr_kept), in the forecast frame's columns."""
    pairs = [("accounts_kept", with_change.expected_draws_, without.expected_draws_)]
    if with_change.expected_mrr_draws_ is not None and without.expected_mrr_draws_ is not None:
        pairs.append(("mrr_kept", with_change.expected_mrr_draws_, without.expected_mrr_draws_))
    rows = [{"month_number": m + 1, "month": month_label(without.origin_, m + 1),
             "month_end": pd.Timestamp(month_end(without.origin_, m + 1)), "measure": measure,
             **_summary(after[:, m] - before[:, m])}
            for measure, after, before in pairs for m in range(after.shape[1])]
    return pd.DataFrame(rows).sort_values(["month_number", "measure"], ignore_index=True)


class RetentionForecast:
    """Accounts, churn, MRR, ARR and revenue retention for each month after the origin, the existing base and new
    business together, with 80% and 95% intervals. fit(accounts, origin, mrr) returns self with document_ (the
    shape `retention forecast --format json` prints)."""

    def __init__(self, months: int = 12, draws: int = 2000, seed: int = 0, new_business: bool = True,
                 kept_share: np.ndarray | None = None, kept_months: int = 12):
        self.base = ExistingBaseForecast(months=months, draws=draws, seed=seed, kept_share=kept_share,
                                         kept_months=kept_months)
        self.new_business = new_business

    def fit(self, accounts: pd.DataFrame, origin: date, mrr: pd.DataFrame | None) -> "RetentionForecast":
        base = self.base.fit(accounts, origin, mrr)
        new = NewBusinessForecast().fit(accounts, origin, base, mrr) if self.new_business else None
        zeros = np.zeros_like(base.draws_)
        new_active = new.draws_ if new is not None else zeros
        new_mrr = new.mrr_draws_ if new is not None else zeros
        new_churned = (new.joined_draws_ - new.draws_) if new is not None else zeros
        series = []
        for m, point in enumerate(base.series_):
            row: dict = {"month": month_label(origin, m + 1), "month_end": str(month_end(origin, m + 1)),
                         "active_accounts": _summary(base.draws_[:, m] + new_active[:, m]),
                         "churned_accounts": _summary(base.n_active_ - base.draws_[:, m] + new_churned[:, m]),
                         "existing_base_accounts": point["active_accounts"],
                         "new_business_accounts": _summary(new_active[:, m])}
            if base.causes_:
                by_cause = base.churned_by_cause_draws_[:, m, :] + (
                    new.churned_by_cause_draws_[:, m, :] if new is not None else 0.0)
                row["churned_by_cause"] = {cause: _summary(by_cause[:, k]) for k, cause in enumerate(base.causes_)}
            if mrr is not None:
                total = base.mrr_draws_[:, m] + new_mrr[:, m]
                row.update(mrr=_summary(total), arr=_summary(12.0 * total),
                           existing_base_mrr=point["mrr"], new_business_mrr=_summary(new_mrr[:, m]))
                for key in ("gross_revenue_retention", "net_revenue_retention"):
                    if key in point:
                        row[key] = point[key]
            series.append(row)
        notes = [f"{base.n_active_:,} accounts active at {origin}; each month ends {DAYS_PER_MONTH:.2f} days after "
                 "the one before",
                 f"intervals from {base.draws:,} simulations (seed {base.seed}): the churn rates' uncertainty, the "
                 "base's month-to-month swing in churn and which accounts churn; not a change the history has not "
                 "seen (new pricing, a recession, a new competitor)",
                 "gross and net revenue retention are the existing base's, against its MRR at the origin"]
        if new is not None:
            notes.append(f"new business: the trend of the last {NEW_BUSINESS_PERIODS} months' new accounts "
                         f"({', '.join(str(int(c)) for c in new.monthly_new_accounts_)}, oldest first), split across "
                         "segments as they were and paying each segment's average first MRR, both as uncertain as "
                         "those months make them")
        if base.causes_:
            notes.append("churn by cause: each tenure's churn splits among the causes as its past churn did, leaning "
                         "on its plan's split at every tenure where few churned; support moves only some causes")
        if self.base.swing_.sigma >= NOTABLE_SWING:
            notes.append(f"churn swings from month to month beyond tenure and segment: sd about "
                         f"{self.base.swing_.sigma:.2f} on the log scale, persistence about {self.base.swing_.phi:.2f} "
                         "a month (posterior means)")
        self.series_: list[dict] = series
        self.document_ = {"as_of": str(origin), "months": base.months, "draws": base.draws, "series": series,
                          "notes": notes}
        self.origin_, self.n_active_, self.starting_mrr_ = origin, base.n_active_, base.starting_mrr_
        # every draw's expected active accounts and MRR given its churn rates, swing and new business, month by
        # month: a change's forecast is compared with these draw by draw
        self.expected_draws_ = base.expected_draws_ + (new.expected_draws_ if new is not None else 0.0)
        self.expected_mrr_draws_ = (base.expected_mrr_draws_ + (new.expected_mrr_draws_ if new is not None else 0.0)
                                    if mrr is not None else None)
        return self

    def frame(self) -> pd.DataFrame:
        """The series long: one row per month ahead and measure (month_number, month, month_end, measure, estimate,
        lower_80, upper_80, lower_95, upper_95), in the order the build's stored copy reads back."""
        rows = [{"month_number": m + 1, "month": row["month"], "month_end": pd.Timestamp(row["month_end"]),
                 "measure": measure, **summary}
                for m, row in enumerate(self.series_) for measure, summary in flat_measures(row)]
        return pd.DataFrame(rows, columns=["month_number", "month", "month_end", "measure", "estimate", "lower_80",
                                           "upper_80", "lower_95", "upper_95"]
                            ).sort_values(["month_number", "measure"], ignore_index=True)

    def info(self) -> dict:
        """What the stored series needs beside it: where it starts and how it was made."""
        return {"method": "life table per plan and tenure month with the base's month-to-month swing in churn; new "
                          "business from the trend of the last two years' signups (pipelines/models/forecast.py)",
                "as_of": str(self.origin_), "months": self.base.months, "draws": self.base.draws,
                "seed": self.base.seed, "new_business": self.new_business, "active_accounts_at_as_of": self.n_active_,
                "mrr_at_as_of": self.starting_mrr_, "notes": self.document_["notes"]}


def actual_totals(accounts: pd.DataFrame, mrr: pd.DataFrame | None, origin: date, months: int) -> pd.DataFrame:
    """What happened after `origin`: every account active at the end of each of the next `months` months (new
    ones too), and their MRR in the month that end falls in."""
    signup = _datetimes(accounts.signup_date)
    churn = _datetimes(accounts.churn_date)
    rows = []
    for m in range(1, months + 1):
        end = pd.Timestamp(origin) + pd.Timedelta(days=m * DAYS_PER_MONTH)
        active = (signup < end) & (churn.isna() | (churn > end))
        rows.append({"month": m, "active_accounts": int(active.sum()),
                     "mrr": float(mrr_at(mrr, accounts.account_key[active], end).sum()) if mrr is not None else None})
    return pd.DataFrame(rows)


def naive_forecast(accounts: pd.DataFrame, mrr: pd.DataFrame | None, origin: date, months: int) -> pd.DataFrame:
    """The baseline a forecast should beat (as Baremetrics projects): the last three months' churn rate, new accounts
    and MRR growth carried forward."""
    signup = _datetimes(accounts.signup_date)
    churn = _datetimes(accounts.churn_date)
    origin_ts = pd.Timestamp(origin)
    start = origin_ts - pd.Timedelta(days=3 * DAYS_PER_MONTH)
    active_start = int(((signup < start) & (churn.isna() | (churn > start))).sum())
    churned = int(((signup < start) & (churn > start) & (churn <= origin_ts)).sum())
    joined = int(((signup >= start) & (signup < origin_ts)).sum()) / 3.0
    monthly_churn = 1.0 - (1.0 - churned / max(active_start, 1)) ** (1 / 3)
    active_now = active_at(accounts, origin)
    base = active = float(active_now.sum())
    growth = 0.0
    mrr_now = None
    if mrr is not None:
        mrr_now = float(mrr_at(mrr, accounts.account_key[active_now], origin).sum())
        mrr_then = float(mrr_at(mrr, accounts.account_key[active_at(accounts, start.date())], start).sum())
        growth = (mrr_now / mrr_then) ** (1 / 3) - 1.0 if mrr_then > 0 else 0.0
    rows = []
    for m in range(1, months + 1):
        active = active * (1.0 - monthly_churn) + joined
        rows.append({"month": m, "active_accounts": active,
                     "existing_base_accounts": base * (1.0 - monthly_churn) ** m,
                     "mrr": None if mrr_now is None else mrr_now * (1.0 + growth) ** m})
    return pd.DataFrame(rows)


def sbg_existing_base(accounts: pd.DataFrame, origin: date, months: int) -> np.ndarray:
    """The simpler model's forecast of the existing base (the shifted-beta-geometric per signup month, sbg.py):
    expected accounts active at `origin` still customers after each of the next `months` months; NaN where no
    cohort can be fitted."""
    epoch = pd.Timestamp("1970-01-01")
    signup = _datetimes(accounts.signup_date)
    signup_day = (signup - epoch).dt.days.to_numpy(float)
    churn_day = (_datetimes(accounts.churn_date) - epoch).dt.days.to_numpy(float)
    try:
        return cohort_survivors(signup_day, churn_day, signup.dt.strftime("%Y-%m").to_numpy(),
                                float((pd.Timestamp(origin) - epoch).days), months, DAYS_PER_MONTH)
    except SBGInputError:
        return np.full(months, np.nan)


def total_backtest(accounts: pd.DataFrame, mrr: pd.DataFrame | None, as_of: date, origins: int = 12,
                   months: int = 6, draws: int = 1000, seed: int = 0) -> pd.DataFrame:
    """From each of `origins` past origins, the forecast of active accounts (existing base and new business), of the
    existing base alone and of MRR, beside what happened and beside the naive baseline (and, for the existing base,
    the simpler sBG per signup cohort): one row per origin, month and measure."""
    rows = []
    measures = ("active_accounts", "existing_base_accounts") + (("mrr",) if mrr is not None else ())
    for j, origin in enumerate(backtest_origins(as_of, origins, months)):
        forecast = RetentionForecast(months=months, draws=draws, seed=seed + j).fit(accounts, origin, mrr)
        actual = actual_totals(accounts, mrr, origin, months).assign(
            existing_base_accounts=actual_active(accounts, origin, months))
        naive = naive_forecast(accounts, mrr, origin, months)
        sbg = sbg_existing_base(accounts, origin, months)
        for m, point in enumerate(forecast.series_):
            for measure in measures:
                summary, happened = point[measure], float(actual[measure].iloc[m])
                rows.append({"origin": origin, "month": m + 1, "measure": measure, "actual": happened,
                             **summary, "naive": float(naive[measure].iloc[m]),
                             "sbg": float(sbg[m]) if measure == "existing_base_accounts" else np.nan,
                             "in_80": summary["lower_80"] <= happened <= summary["upper_80"],
                             "in_95": summary["lower_95"] <= happened <= summary["upper_95"]})
    return pd.DataFrame(rows)


def backtest_summary(result: pd.DataFrame) -> pd.DataFrame:
    """Per measure: the share of months the 80% and 95% intervals held, and the mean absolute percentage error at the
    longest horizon of the forecast, of the naive baseline and of the sBG per cohort (the existing base only)."""
    last = result[result.month == result.month.max()]

    def error(column: str) -> pd.Series:
        return ((last[column] - last.actual).abs() / last.actual).groupby(last.measure).mean()

    return pd.DataFrame({
        "in_80": result.groupby("measure").in_80.mean(),
        "in_95": result.groupby("measure").in_95.mean(),
        "error": error("estimate"),
        "naive_error": error("naive"),
        "sbg_error": error("sbg"),
    }).reset_index()


@dataclass
class ForecastInputs:
    """What a forecast of a build reads: its accounts (filtered), their MRR by month, and the build's as-of."""

    accounts: pd.DataFrame
    mrr: pd.DataFrame | None
    as_of: date


def read_inputs(con: duckdb.DuckDBPyConnection, filters: list[str] | None = None,
                segment: str | None = DEFAULT_SEGMENT, as_of: date | None = None) -> ForecastInputs:
    """The build's accounts (those the filters keep), their monthly MRR and its as-of date (`as_of` when the caller
    knows it: a build in progress has recorded none yet). The hazards are estimated within `segment` when the build
    has it (a build without a plan column forecasts all accounts as one)."""
    if as_of is None:
        row = con.execute(query_text("risk_as_of")).fetchone()
        if row is None or row[0] is None:
            raise ForecastInputError("the database records no as-of date: rebuild it")
        as_of = row[0]
    if segment == DEFAULT_SEGMENT and segment not in filterable_columns(con):
        segment = None  # a build without plans forecasts all accounts as one; another unknown name is refused below
    accounts = read_accounts(con, segment, filters)
    if accounts.empty:
        raise ForecastInputError("no account matches the filters")
    mrr = read_mrr(con)
    mrr = mrr[mrr.account_key.isin(accounts.account_key)] if not mrr.empty else None
    return ForecastInputs(accounts, mrr, as_of)


def store_forecast(con: duckdb.DuckDBPyConnection, fitted: RetentionForecast | None, error: str | None = None) -> int:
    """Write forecast_series and model_info['forecast'] (empty, with why, when there is none): the overview reads
    the forecast of every account and never simulates it."""
    if fitted is None:
        return store_result(con, "forecast_series", "forecast", error=error)
    return store_result(con, "forecast_series", "forecast", fitted.frame(), info=fitted.info())


def read_forecast(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The build's stored forecast of every account, one row per month ahead and measure (empty when none)."""
    return con.execute(query_text("forecast_series_all")).df()
