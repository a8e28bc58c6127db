"""Did a support change that reached every account at once keep customers? An interrupted time series of the monthly
churn hazard: the weakest of the change designs.

With no account left out of the change there is no comparison group. The counterfactual is the months before the
change extrapolated: their churn, given the tenure of the accounts at risk, their season and their trend, carried
past the change date. The hazard ratio is what happened after the change against that extrapolation. Anything else
that changed at the same time (a price rise, a new competitor, a recession, a product release) is credited to the
change; so is a trend that bends by itself. The estimate is worth what that assumption is worth, and the design says
so with every number (`design_caveat`).

The model is Poisson with a log link on month × tenure-band cells (churns over account-months: the same likelihood as
the account-month panel, and a few hundred rows instead of a few hundred thousand), fitted on the months before the
change only:

- an effect for each band of tenure, so an ageing or a younger base is not mistaken for an effect;
- the season as a yearly and a half-yearly wave (`harmonics` sine-cosine pairs): a smooth month-of-year effect in four
  numbers instead of eleven, because a trend and eleven month dummies on a year or two of months leave almost nothing
  to judge the noise by, and extrapolate month dummies each seen once or twice;
- a linear calendar trend.

The months after the change are then predicted from it, cell by cell. Their observed churns over their expected
churns is the headline hazard ratio: the Poisson estimate of one step at the change with the counterfactual held
fixed, which is the average of the months' own ratios weighted by their expected churns. The effect may grow or fade
over the months after the change; the headline is its average over the months observed, and `event_study_` gives
each month's own ratio. No slope change is fitted: it would have to be extrapolated too.

The errors are the point where the naive answer goes wrong. A shock that moves every account's churn in a month (a
staffing gap, an outage, a billing run) makes the month, not the account, the unit of information: however many
accounts there are, the trend rests on as many observations as there are months. Errors clustered by account treat
each month's churn as its accounts' independent draws and come out several times too narrow. Here:

- quasi-Poisson dispersion from the monthly totals: the Pearson residuals of each month's churns against the fit
  before the change, over their degrees of freedom (months less the month-level terms), floored at 1. A common shock
  makes it large; pure account-level noise leaves it near 1;
- Newey–West's Bartlett-weighted autocorrelations of those monthly residuals scale it up when shocks last more than
  a month (a staffing gap over a quarter); never down, since a handful of months cannot show a negative
  autocorrelation reliably;
- intervals from Student's t with the months' degrees of freedom, not the normal.

Both the noise in the months after the change and the uncertainty of the extrapolation (the trend's error grows with
the distance from the change) enter the interval. A moving-block bootstrap over months was the alternative; with a
year or two of months it has too few blocks to be stable, and it would resample the trend it has to extrapolate.

What can be tested of the extrapolation is tested on the months before the change: the same design at placebo dates
earlier (PLACEBO_OFFSETS_MONTHS), fitted on the months before each, should find a ratio of 1 (`placebos_`;
`pre_trend_p_value_` is their smallest p-value times their number). Each needs a year of months before its own date,
so with a short history before the change only the nearer placebo, or none, can be run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from .change_effect import PLACEBO_OFFSETS_MONTHS, ChangeEffectError, account_months

# A full year before the change, so every month of the season has been seen before it is extrapolated.
MIN_MONTHS_BEFORE = 12
# A yearly and a half-yearly wave: the churn seasons seen in support data (a year-end renewal peak, a summer lull)
# without a parameter per calendar month.
SEASON_HARMONICS = 2
# Each placebo's own fit needs a year before its date, for the same reason as the design's.
PLACEBO_MIN_MONTHS = MIN_MONTHS_BEFORE

ROWS_COLUMNS = ["row", "account", "month", "event_month", "treated", "churned", "mrr"]


def pooled_bands(churns_by_band: pd.Series) -> dict[int, int]:
    """Tenure band → the band it is pooled into: a band with no churn at all has a rate of 0 whose log runs off to
    minus infinity, so it joins the next younger band (or, for the youngest, the next older one with churn)."""
    bands = sorted(int(band) for band in churns_by_band.index)
    groups: list[list[int]] = []
    for band in bands:
        if groups and (churns_by_band[band] == 0 or sum(churns_by_band[b] for b in groups[-1]) == 0):
            groups[-1].append(band)
        else:
            groups.append([band])
    return {band: number for number, group in enumerate(groups) for band in group}


def poisson_fit(x: np.ndarray, churns: np.ndarray, exposure: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poisson regression with a log link and log(exposure) as offset, by Newton's method with step halving:
    the coefficients and the inverse of the information matrix (the covariance before any dispersion)."""
    offset = np.log(exposure)
    beta = np.linalg.lstsq(x, np.log((churns + 0.5) / exposure), rcond=None)[0]

    def deviance(b: np.ndarray) -> float:
        mu = np.exp(x @ b + offset)
        return float(2 * np.sum(mu - churns - np.where(churns > 0, churns * np.log(np.maximum(churns, 1e-300) / mu),
                                                        0.0)))

    current = deviance(beta)
    for _ in range(100):
        mu = np.exp(x @ beta + offset)
        information = x.T @ (mu[:, None] * x)
        step = np.linalg.solve(information, x.T @ (churns - mu))
        for _ in range(30):  # a full Newton step can overshoot from a poor start: halve it until the fit improves
            candidate = deviance(beta + step)
            if candidate <= current + 1e-12:
                break
            step = step / 2
        beta, previous, current = beta + step, current, candidate
        if np.max(np.abs(step)) < 1e-10 or previous - current < 1e-12:
            break
    mu = np.exp(x @ beta + offset)
    return beta, np.linalg.inv(x.T @ (mu[:, None] * x))


@dataclass
class _Extrapolation:
    """The counterfactual fitted on the months before a boundary and what it predicts after it."""

    observed: np.ndarray  # per cell
    expected: np.ndarray  # per cell, the fit before the boundary and the extrapolation after it
    gradient: np.ndarray  # per cell × coefficient: d expected / d coefficient
    covariance: np.ndarray  # of the coefficients, dispersion included
    dispersion: float  # quasi-Poisson, month level
    long_run: float  # Newey–West factor for sums over months
    df: int


@dataclass
class InterruptedTimeSeries:
    """Interrupted time series of a change that reached every account from `change_date`: the weakest design.

    The months before the change, extrapolated (tenure bands, a smooth season and a linear trend, Poisson on month ×
    tenure-band cells), are the counterfactual; the hazard ratio is the churn after the change against it. Anything
    else that changed at the same time is credited to the change. Errors respect month-level shocks (quasi-Poisson
    dispersion of the monthly totals, Newey–West for their autocorrelation, t with the months' degrees of freedom).

    fit(panel) takes read_change_panel's frame, every account reached (is_treated true throughout). Learned:
    hazard_ratio_ {estimate, ci_lower, ci_upper, log_estimate, log_se, p_value} (the average ratio over the months
    observed after the change), event_study_ (each month's observed / expected; before the change, the fit's own
    ratio), pre_trend_p_value_, placebos_, counts_ (with the dispersion found), notes_ and rows_ (one row per usable
    panel row).
    """

    design_caveat: ClassVar[str] = (
        "An interrupted time series is the weakest design: with no comparison group, anything else that changed at "
        "the same time as the change (prices, the product, the market, a trend that bent by itself) is credited to "
        "the change.")

    change_date: date
    level: float = 0.95
    harmonics: int = SEASON_HARMONICS
    hazard_ratio_: dict = field(default_factory=dict, init=False)
    event_study_: pd.DataFrame = field(default_factory=pd.DataFrame, init=False)
    pre_trend_p_value_: float | None = field(default=None, init=False)
    placebos_: list[dict] = field(default_factory=list, init=False)
    counts_: dict = field(default_factory=dict, init=False)
    notes_: list[str] = field(default_factory=list, init=False)
    rows_: pd.DataFrame = field(default_factory=pd.DataFrame, init=False)

    def fit(self, panel: pd.DataFrame) -> InterruptedTimeSeries:
        if not 0 <= self.harmonics <= 5:
            raise ChangeEffectError("harmonics is the number of yearly waves in the season: 0 to 5")
        rows = self._design(panel)
        cells = self._cells(rows)
        self.hazard_ratio_, self.event_study_, extrapolation = self._effect(cells, 0)
        post = cells.event_month.to_numpy() >= 0
        self.counts_.update(expected_churns_after=float(extrapolation.expected[post].sum()),
                            dispersion=extrapolation.dispersion, long_run_factor=extrapolation.long_run,
                            degrees_of_freedom=extrapolation.df)
        self.placebos_ = self._placebos(cells)
        self.pre_trend_p_value_ = (min(1.0, len(self.placebos_) * min(p["p_value"] for p in self.placebos_))
                                   if self.placebos_ else None)
        self.notes_ = self._notes()
        self.rows_ = rows[ROWS_COLUMNS]
        return self

    # --- the design -------------------------------------------------------------------------------------------

    def _design(self, panel: pd.DataFrame) -> pd.DataFrame:
        rows = account_months(panel, self.change_date)
        if not rows.treated.all():
            others = rows.loc[~rows.treated, "account"].nunique()
            raise ChangeEffectError(
                f"{others:,} accounts in the panel were not reached by the change: compare the reached accounts with "
                "them (difference-in-differences, the stronger design), or give the interrupted time series only "
                "the accounts the change reached")
        before, after = rows.event_month < 0, rows.event_month >= 0
        self.counts_ = {
            "treated_accounts": int(rows.account.nunique()), "comparison_accounts": 0,
            "churns_treated_before": int(rows.churned[before].sum()),
            "churns_treated_after": int(rows.churned[after].sum()),
            "account_months_before": int(before.sum()), "account_months_after": int(after.sum()),
            "months_before": int(rows.event_month[before].nunique()),
            "months_after": int(rows.event_month[after].nunique()),
        }
        if self.counts_["months_before"] < MIN_MONTHS_BEFORE:
            raise ChangeEffectError(
                f"an interrupted time series needs at least {MIN_MONTHS_BEFORE} whole months before the change, so "
                f"that its season and trend can be extrapolated; the data have {self.counts_['months_before']} before "
                f"{self.change_date:%Y-%m-%d}: load a longer history or evaluate a later change")
        if self.counts_["months_after"] == 0:
            raise ChangeEffectError(f"the data have no whole month after {self.change_date:%Y-%m-%d}")
        if self.counts_["churns_treated_before"] == 0 or self.counts_["churns_treated_after"] == 0:
            raise ChangeEffectError("the accounts need churns both before and after the change to compare them")
        return rows

    def _cells(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Churns and account-months per month and tenure band: the Poisson likelihood of the account-months
        depends on them only."""
        cells = (rows.groupby(["month", "event_month", "tenure_band"], sort=True)
                 .agg(churns=("churned", "sum"), exposure=("churned", "size")).reset_index())
        return cells

    def _design_matrix(self, cells: pd.DataFrame, bands: dict[int, int]) -> np.ndarray:
        groups = max(bands.values()) + 1
        band_index = np.array([bands.get(int(b), self._nearest(bands, int(b))) for b in cells.tenure_band])
        columns = [np.eye(groups)[band_index]]
        columns.append((cells.event_month.to_numpy(dtype=float) / 12.0)[:, None])  # the trend, per year
        angle = 2 * np.pi * cells.month.to_numpy(dtype=float) / 12.0
        for k in range(1, self.harmonics + 1):
            columns.append(np.column_stack([np.sin(k * angle), np.cos(k * angle)]))
        return np.hstack(columns)

    @staticmethod
    def _nearest(bands: dict[int, int], band: int) -> int:
        """A band not seen before the boundary (accounts older than any then) takes the nearest band's rate."""
        return bands[min(bands, key=lambda seen: abs(seen - band))]

    def _extrapolate(self, cells: pd.DataFrame, boundary: int) -> _Extrapolation:
        fitted = cells.event_month.to_numpy() < boundary
        before = cells[fitted]
        bands = pooled_bands(before.groupby("tenure_band").churns.sum())
        x = self._design_matrix(cells, bands)
        beta, inverse_information = poisson_fit(x[fitted], before.churns.to_numpy(dtype=float),
                                                before.exposure.to_numpy(dtype=float))
        expected = np.exp(x @ beta) * cells.exposure.to_numpy(dtype=float)
        # month-level noise: each month's total against the fit's, the band terms being within-month contrasts
        monthly = pd.DataFrame({"month": before.event_month.to_numpy(), "observed": before.churns.to_numpy(),
                                "expected": expected[fitted]}).groupby("month").sum()
        residuals = ((monthly.observed - monthly.expected) / np.sqrt(monthly.expected)).to_numpy()
        df = len(monthly) - (2 + 2 * self.harmonics)  # the level, the trend and the waves are month-level terms
        if df < 1:
            raise ChangeEffectError(f"too few whole months before the change to fit a season and a trend "
                                    f"({len(monthly)}); at least {MIN_MONTHS_BEFORE} are needed")
        dispersion = max(1.0, float(residuals @ residuals) / df)
        lags = int(np.floor(4 * (len(residuals) / 100) ** (2 / 9)))
        autocorrelation = [float(residuals[lag:] @ residuals[:-lag] / (residuals @ residuals))
                           if residuals @ residuals > 0 else 0.0 for lag in range(1, lags + 1)]
        long_run = max(1.0, 1 + 2 * sum((1 - lag / (lags + 1)) * rho
                                        for lag, rho in enumerate(autocorrelation, start=1)))
        return _Extrapolation(observed=cells.churns.to_numpy(dtype=float), expected=expected,
                              gradient=expected[:, None] * x,
                              covariance=dispersion * long_run * inverse_information,
                              dispersion=dispersion, long_run=long_run, df=df)

    def _ratio(self, fit: _Extrapolation, mask: np.ndarray, noise: float) -> dict:
        """Observed over expected churns in the cells of `mask`, with an interval from both the months' own noise
        (`noise`: the dispersion, for a sum over several months times the long-run factor) and the extrapolation."""
        observed, expected = float(fit.observed[mask].sum()), float(fit.expected[mask].sum())
        if observed == 0:
            raise ChangeEffectError("no churn in the months after the change: the hazard ratio has no interval")
        estimate = np.log(observed / expected)
        gradient = fit.gradient[mask].sum(axis=0) / expected
        se = float(np.sqrt(noise / observed + gradient @ fit.covariance @ gradient))
        q = stats.t.ppf(0.5 + self.level / 2, fit.df)
        return {"estimate": float(np.exp(estimate)), "ci_lower": float(np.exp(estimate - q * se)),
                "ci_upper": float(np.exp(estimate + q * se)), "log_estimate": float(estimate), "log_se": se,
                "p_value": float(2 * stats.t.sf(abs(estimate) / se, fit.df))}

    def _effect(self, cells: pd.DataFrame, boundary: int) -> tuple[dict, pd.DataFrame, _Extrapolation]:
        """The ratio of the months from `boundary` on (0: the change; a placebo's is earlier) against the
        extrapolation of those before it, and each month's own."""
        fit = self._extrapolate(cells, boundary)
        events = cells.event_month.to_numpy()
        after = events >= boundary
        ratio = self._ratio(fit, after, fit.dispersion * fit.long_run)
        months = []
        for month in np.unique(events):
            mask = events == month
            if fit.observed[mask].sum() == 0:  # a month with no churn: a ratio of 0 with no interval on its scale
                continue
            one = self._ratio(fit, mask, fit.dispersion)
            months.append({"months_from_change": int(month - boundary),
                           **{k: one[k] for k in ("estimate", "ci_lower", "ci_upper")}})
        return ratio, pd.DataFrame(months), fit

    def _placebos(self, cells: pd.DataFrame) -> list[dict]:
        """The same design at dates before the change, fitted and judged on the months before it only: an
        extrapolation that held then should find a ratio near 1."""
        before = cells[cells.event_month < 0]
        out = []
        for offset in PLACEBO_OFFSETS_MONTHS:
            fitted_months = before.event_month[before.event_month < -offset].nunique()
            needed = max(PLACEBO_MIN_MONTHS, 3 + 2 * self.harmonics)  # a degree of freedom left for the noise
            if fitted_months < needed or before.churns[before.event_month >= -offset].sum() == 0:
                continue
            ratio, _, _ = self._effect(before, -offset)
            month = int(before.month[before.event_month == -offset].iloc[0])
            out.append({"date": f"{(month - 1) // 12:04d}-{(month - 1) % 12 + 1:02d}-01",
                        "months_before_change": offset,
                        **{k: ratio[k] for k in ("estimate", "ci_lower", "ci_upper", "p_value")}})
        return out

    def _notes(self) -> list[str]:
        counts = self.counts_
        notes = [
            self.design_caveat,
            "The hazard ratio is the churn in the months after the change against the months before it extrapolated "
            "(tenure bands, a smooth season, a linear trend): the average over the months observed, each weighted by "
            "its expected churn; an effect that grows or fades shows in the months' own ratios.",
            f"Errors treat months as the unit of information: month-to-month noise {counts['dispersion']:.1f} times "
            f"what the churn counts alone would give, times {counts['long_run_factor']:.1f} for shocks lasting more "
            f"than a month, with {counts['degrees_of_freedom']} degrees of freedom.",
        ]
        if len(self.placebos_) < len(PLACEBO_OFFSETS_MONTHS):
            notes.append("Not every placebo date could be tested: each needs a year of months before its own date.")
        return notes
