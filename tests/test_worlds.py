"""The test worlds' own truth (tests/worlds.py), checked before any estimator is judged against it (the estimators'
tests on these worlds are in test_worlds_estimators.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from worlds import DAYS_PER_MONTH, World, generate, true_churn

MEASURE_NOISE_SD = 0.4  # the month-to-month noise of log first response in worlds.py


def quadrature_churn(world: World, service: np.ndarray, halve: bool) -> np.ndarray:
    """The chance of churning within the horizon with a flat baseline and no case mix, by Gauss-Hermite quadrature:
    each month's log first response is the account's level plus independent normal noise, so the survival is the
    product over months of one expectation."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    weights = weights / weights.sum()
    slope = math.log(world.effect) / math.log(2.0)
    shift = -math.log(2.0) if halve else 0.0
    log_ratio = slope * (service[:, None] + shift + MEASURE_NOISE_SD * nodes[None, :])
    month_survival = (np.exp(-world.baseline_daily_hazard(np.zeros(1)) * DAYS_PER_MONTH * np.exp(log_ratio))
                      @ weights)
    return 1.0 - month_survival ** (world.horizon_days / DAYS_PER_MONTH)


def test_a_worlds_truth_is_its_own_hazard_drawn_forward():
    world = World(n_accounts=800, horizon_days=360)
    _, state = generate(world, seed=3)
    for drawn, halve in zip(true_churn(world, state, seed=4, paths=4000), (False, True)):
        exact = quadrature_churn(world, state.service[state.active], halve)
        assert drawn.sum() == pytest.approx(exact.sum(), rel=0.005), halve
        assert np.abs(drawn - exact).max() < 0.01, halve
