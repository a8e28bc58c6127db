"""The shifted-beta-geometric cohort model: Fader & Hardie's published fits, a planted truth, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipelines.models.sbg import SBGInputError, ShiftedBetaGeometric, fit_cohorts, survival


@pytest.mark.parametrize("alive, alpha, beta, log_likelihood", [
    # Fader & Hardie (2007), "How to Project Customer Retention", the two cohorts of their worked example
    ([1000, 631, 468, 382, 326, 289, 262, 241], 0.704, 1.182, -1680.3),  # "regular"
    ([1000, 869, 743, 653, 593, 551, 517, 491], 0.668, 3.806, -1611.2),  # "high end"
])
def test_reproduces_the_papers_fits(alive, alpha, beta, log_likelihood):
    fitted = ShiftedBetaGeometric().fit(alive)
    assert round(fitted.alpha_, 3) == alpha and round(fitted.beta_, 3) == beta
    assert round(fitted.log_likelihood_, 1) == log_likelihood


def test_survival_is_one_minus_the_churn_so_far_and_retention_rises_with_tenure():
    fitted = ShiftedBetaGeometric().fit([1000, 631, 468, 382, 326, 289, 262, 241])
    t = np.arange(0, 13)
    s = fitted.survival(t)
    churn = -np.diff(s)
    # P(T = t) by the paper's recursion, and S(t) = 1 - sum of them
    recursion = [fitted.alpha_ / (fitted.alpha_ + fitted.beta_)]
    for period in range(2, 13):
        recursion.append(recursion[-1] * (fitted.beta_ + period - 2) / (fitted.alpha_ + fitted.beta_ + period - 1))
    np.testing.assert_allclose(churn, recursion, rtol=1e-12)
    np.testing.assert_allclose(s[1:] / s[:-1], fitted.retention_rate(t[1:]), rtol=1e-12)
    assert np.all(np.diff(fitted.retention_rate(t[1:])) > 0)
    np.testing.assert_allclose(fitted.expected_alive(12), 1000 * s)


def test_recovers_a_planted_beta_of_churn_probabilities():
    """Customers whose churn probabilities are drawn from beta(1.2, 3.0): the fit's 95% intervals (from the observed
    information, on the log scale) hold the planted α and β."""
    rng = np.random.default_rng(5)
    theta = rng.beta(1.2, 3.0, 20_000)
    lifetimes = rng.geometric(theta)
    alive = [int((lifetimes > t).sum()) for t in range(0, 11)]
    fitted = ShiftedBetaGeometric().fit(alive)
    se = np.sqrt(np.diag(fitted.covariance_))
    for estimate, truth, spread in ((fitted.alpha_, 1.2, se[0]), (fitted.beta_, 3.0, se[1])):
        assert math.log(estimate) - 1.96 * spread <= math.log(truth) <= math.log(estimate) + 1.96 * spread, (
            estimate, truth, spread)


@pytest.mark.parametrize("alive, message", [
    ([1000], "at least one period"),
    ([1000, 1100, 900], "never rise"),
    ([0, 0, 0], "no customers at the start"),
    ([500, 500, 500], "no customer of the cohort churned"),
])
def test_bad_counts_say_why(alive, message):
    with pytest.raises(SBGInputError, match=message):
        ShiftedBetaGeometric().fit(alive)


def test_fit_cohorts_fits_each_cohort_and_says_why_it_skips_one():
    planted = survival(0.7, 1.2, np.arange(1, 9))
    frame = pd.DataFrame(
        [{"cohort_month": "2025-01-01", "months_since_signup": m, "cohort_accounts": 1000,
          "retained_accounts": round(1000 * planted[m])} for m in range(8)]
        + [{"cohort_month": "2025-09-01", "months_since_signup": m, "cohort_accounts": 50, "retained_accounts": 49}
           for m in range(2)])
    fits = fit_cohorts(frame).set_index("cohort_month")
    assert fits.loc["2025-01-01", "alpha"] == pytest.approx(0.7, rel=0.05)
    assert fits.loc["2025-01-01", "beta"] == pytest.approx(1.2, rel=0.05)
    assert np.isnan(fits.loc["2025-09-01", "alpha"]) and "fewer than 3 months" in fits.loc["2025-09-01", "note"]


def test_cohort_survivors_follow_the_planted_sbg_of_each_cohort():
    """Two years of monthly signup cohorts whose customers each churn with a θ of their own drawn from beta(2, 6):
    the accounts still customers at the origin are forecast by each cohort's fit as the planted model keeps them
    (the survivors of old cohorts churn less, as the model says), and a cohort too young to fit takes the latest
    fit's."""
    from pipelines.models.sbg import cohort_survivors

    rng = np.random.default_rng(5)
    period = 30.4375
    alpha, beta = 2.0, 6.0
    cohort = np.repeat(np.arange(24), 400)
    signup = cohort * period + rng.uniform(0, period - 1, cohort.size)
    theta = rng.beta(alpha, beta, cohort.size)
    lifetime = rng.geometric(theta) * period  # churns at the end of its period
    churn = signup + lifetime
    origin = 24 * period
    forecast = cohort_survivors(signup, churn, cohort, origin, 6, period)
    active = churn > origin
    age = (origin - signup[active]) / period
    truth = [float((survival(alpha, beta, age + m) / survival(alpha, beta, age)).sum()) for m in range(1, 7)]
    np.testing.assert_allclose(forecast, truth, rtol=0.05)
    happened = [int((churn[active] > origin + m * period).sum()) for m in range(1, 7)]
    np.testing.assert_allclose(forecast, happened, rtol=0.06)
