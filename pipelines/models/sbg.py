"""The shifted-beta-geometric model of a cohort's retention (Fader & Hardie 2007), the forecast's simpler comparison.

Each customer of a cohort churns at the end of any period with a probability θ of its own, constant over its
life, and θ varies across the cohort as a beta(α, β). The cohort's retention then rises with tenure (the customers
likeliest to leave leave first) without any customer's own risk changing, which is what most cohort curves show. With
T the period in which a customer churns:

    P(T = 1) = α / (α + β)
    P(T = t) = (β + t − 2) / (α + β + t − 1) · P(T = t − 1)       t = 2, 3, ...
    S(t)     = P(T > t) = B(α, β + t) / B(α, β)
    r(t)     = S(t) / S(t − 1) = (β + t − 1) / (α + β + t − 1)   the retention rate of period t

Fitted by maximum likelihood on a cohort's alive counts n_0, n_1, ..., n_k (n_0 the cohort at start, n_t those
still customers after t periods): the n_{t−1} − n_t who churned in period t contribute log P(T = t) each, the n_k
still customers log S(k). Reference: P. S. Fader and B. G. S. Hardie, "How to Project Customer Retention", Journal of
Interactive Marketing 21(1), 2007, whose "regular" and "high end" cohorts tests/test_sbg.py reproduces.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, special

from ..errors import RetentionError


class SBGInputError(RetentionError, ValueError):
    """Alive counts the model cannot be fitted on; the message says why."""


def _churn_probabilities(alpha: float, beta: float, periods: int) -> np.ndarray:
    """P(T = t) for t = 1..periods, by the recursion (no cancellation: every factor is positive)."""
    t = np.arange(2, periods + 1)
    ratios = (beta + t - 2) / (alpha + beta + t - 1)
    return alpha / (alpha + beta) * np.concatenate([[1.0], np.cumprod(ratios)])


def survival(alpha: float, beta: float, t) -> np.ndarray:
    """S(t) = B(α, β + t) / B(α, β) at periods t (0 gives 1)."""
    t = np.asarray(t, dtype=float)
    return np.exp(special.betaln(alpha, beta + t) - special.betaln(alpha, beta))


def _log_likelihood(alpha: float, beta: float, churned: np.ndarray, still: float) -> float:
    probabilities = _churn_probabilities(alpha, beta, churned.size)
    return float(churned @ np.log(probabilities) + still * np.log(survival(alpha, beta, churned.size)))


# log α and log β are searched within these: a cohort whose churn looks the same at every tenure has its best fit
# at infinity (the geometric limit), which the upper bound stands in for without overflowing
LOG_PARAMETER_BOUNDS = (-10.0, 12.0)


class ShiftedBetaGeometric:
    """Fit on one cohort's alive counts. fit(alive) returns self with alpha_, beta_, log_likelihood_ and
    covariance_ (of log α and log β, from the observed information); survival(t), retention_rate(t) and
    expected_alive(periods) project it."""

    def fit(self, alive: Sequence[float] | np.ndarray) -> "ShiftedBetaGeometric":
        counts = np.asarray(alive, dtype=float)
        if counts.ndim != 1 or counts.size < 2:
            raise SBGInputError("give a cohort's alive counts at the start and after at least one period")
        if np.any(counts < 0) or np.any(np.diff(counts) > 0):
            raise SBGInputError("alive counts must be non-negative and never rise: a cohort only loses customers")
        if counts[0] <= 0:
            raise SBGInputError("the cohort has no customers at the start")
        churned = -np.diff(counts)
        still = counts[-1]
        if churned.sum() == 0:
            raise SBGInputError("no customer of the cohort churned yet: nothing to fit the churn rates on")
        self.n_start_ = float(counts[0])
        self.periods_observed_ = int(churned.size)

        def negative(log_params: np.ndarray) -> float:
            alpha, beta = np.exp(np.clip(log_params, *LOG_PARAMETER_BOUNDS))
            return -_log_likelihood(float(alpha), float(beta), churned, float(still))

        result = optimize.minimize(negative, x0=np.zeros(2), method="L-BFGS-B", bounds=[LOG_PARAMETER_BOUNDS] * 2,
                                   options={"gtol": 1e-7, "ftol": 1e-13})
        self.alpha_, self.beta_ = (float(v) for v in np.exp(result.x))
        self.log_likelihood_ = -float(result.fun)
        self.covariance_ = _inverse_hessian(negative, result.x)
        return self

    def survival(self, t) -> np.ndarray:
        return survival(self.alpha_, self.beta_, t)

    def retention_rate(self, t) -> np.ndarray:
        """r(t), the share of the customers at the start of period t who stay through it (t >= 1)."""
        t = np.asarray(t, dtype=float)
        return (self.beta_ + t - 1) / (self.alpha_ + self.beta_ + t - 1)

    def expected_alive(self, periods: int) -> np.ndarray:
        """The cohort's expected customers after 0..periods periods."""
        return self.n_start_ * self.survival(np.arange(periods + 1))


def _inverse_hessian(function, at: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """The inverse of a central-difference Hessian of `function` at `at`: the covariance of the estimates when
    `function` is a negative log-likelihood."""
    k = at.size
    hessian = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            e_i, e_j = np.eye(k)[i] * step, np.eye(k)[j] * step
            hessian[i, j] = (function(at + e_i + e_j) - function(at + e_i - e_j) - function(at - e_i + e_j)
                             + function(at - e_i - e_j)) / (4 * step * step)
    return np.linalg.inv(hessian)


def fit_cohorts(retention: pd.DataFrame, min_periods: int = 3) -> pd.DataFrame:
    """One sBG fit per signup cohort of a cohort_retention table (cohort_month, months_since_signup,
    retained_accounts, cohort_accounts): α, β, the months observed and the log-likelihood. A cohort with fewer than
    `min_periods` months observed, or no churn yet, is listed with why instead of an estimate."""
    rows = []
    for cohort, frame in retention.sort_values("months_since_signup").groupby("cohort_month", sort=True):
        alive = np.concatenate([[float(frame.cohort_accounts.iloc[0])], frame.retained_accounts.to_numpy(float)])
        row = {"cohort_month": cohort, "cohort_accounts": int(alive[0]), "months_observed": int(len(frame)),
               "alpha": np.nan, "beta": np.nan, "log_likelihood": np.nan, "note": ""}
        if len(frame) < min_periods:
            row["note"] = f"fewer than {min_periods} months observed"
        else:
            try:
                fitted = ShiftedBetaGeometric().fit(alive)
            except SBGInputError as error:
                row["note"] = str(error)
            else:
                row.update(alpha=fitted.alpha_, beta=fitted.beta_, log_likelihood=fitted.log_likelihood_)
        rows.append(row)
    return pd.DataFrame(rows)


def cohort_survivors(signup_day: np.ndarray, churn_day: np.ndarray, cohort: np.ndarray, origin_day: float,
                     months: int, period_days: float, min_periods: int = 3) -> np.ndarray:
    """The sBG's forecast of the accounts active at `origin_day` still customers after each of the next `months`
    periods, from what was known then: one fit per signup `cohort` on its alive counts by period since signup (the
    periods every account of the cohort has lived through by the origin), each active account kept with
    S(a + m) / S(a) at its age a in periods; a cohort too young or with no churn yet takes the fit of the latest
    cohort that has one. Days are numbers (days since any fixed day); a churn day of NaN is none."""
    signup_day, churn_day, cohort = (np.asarray(a) for a in (signup_day, churn_day, cohort))
    known = signup_day < origin_day
    lifetime = np.where(known & (churn_day <= origin_day), churn_day - signup_day, np.inf)
    fits: dict = {}
    latest = None
    for name in sorted(set(cohort[known])):
        own = known & (cohort == name)
        periods = int((origin_day - signup_day[own].max()) // period_days)
        if periods < min_periods:
            continue
        alive = np.array([(lifetime[own] > t * period_days).sum() for t in range(periods + 1)], float)
        try:
            fitted = ShiftedBetaGeometric().fit(alive)
        except SBGInputError:
            continue
        fits[name] = latest = (fitted.alpha_, fitted.beta_)
    if latest is None:
        raise SBGInputError("no signup cohort has three months and a churn to fit on")
    active = known & (lifetime == np.inf) & ~(churn_day <= origin_day)
    age = (origin_day - signup_day[active]) / period_days
    expected = np.zeros(months)
    for name in set(cohort[active]):
        alpha, beta = fits.get(name, latest)
        own_age = age[cohort[active] == name]
        today = survival(alpha, beta, own_age)
        for m in range(1, months + 1):
            expected[m - 1] += float((survival(alpha, beta, own_age + m) / today).sum())
    return expected
