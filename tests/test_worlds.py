"""The test worlds' own truth (tests/worlds.py), checked before any estimator is judged against it, and the
what-if's absolute numbers on the two worlds where the answer is plain: a flat baseline, and a factor with no
effect. The other structures (a baseline rising or falling over tenure, frailty, horizons past the observed
tenure) are the calibrated what-if's to meet."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.models.drivers import ServiceDrivers
from pipelines.models.factor_effects import whatif_terms
from pipelines.models.whatif import WhatIf
from worlds import DAYS_PER_MONTH, World, generate, panel_database, true_churn

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


@pytest.mark.parametrize("halve", [False, True])
def test_a_worlds_truth_is_its_own_hazard_drawn_forward(halve):
    world = World(n_accounts=800, horizon_days=360)
    _, state = generate(world, seed=3)
    drawn = true_churn(world, state, seed=4, halve=halve, paths=4000)
    exact = quadrature_churn(world, state.service[state.active], halve)
    assert drawn.sum() == pytest.approx(exact.sum(), rel=0.005)
    assert np.abs(drawn - exact).max() < 0.01


@pytest.mark.xfail(strict=True, reason="the what-if's baseline is Breslow's step function, noisy at the long tenures "
                   "few accounts reach, and extended past them by the last year's average; its interval leaves the "
                   "baseline's uncertainty out: on seed 11 of the flat world the expected churn is 12% low and the "
                   "interval misses. The calibrated what-if is to pass this")
@pytest.mark.parametrize("world, name", [(World(), "flat"), (World(effect=1.0), "no effect")])
def test_whatif_absolute_numbers_where_the_answer_is_plain(world, name):
    """Expected churn with no change within 5% of the world's own, the accounts kept covered by the interval."""
    for seed in (11, 12):
        panel, state = generate(world, seed)
        today = true_churn(world, state, seed + 100, halve=False).sum()
        kept_true = today - true_churn(world, state, seed + 100, halve=True).sum()
        con = panel_database(panel)
        model = ServiceDrivers(factors=whatif_terms(["first_response_hours"]), max_accounts=None, robust=True,
                               concordance=False).fit(con)
        result = WhatIf([("first_response_hours", "-50%")], horizon_days=world.horizon_days, n_draws=300,
                        seed=seed).fit(con, drivers=model).result_
        con.close()
        assert result["baseline"]["expected_churned_accounts"] == pytest.approx(today, rel=0.05), (name, seed)
        kept = result["accounts_kept"]
        assert kept["ci_lower"] <= kept_true <= kept["ci_upper"], (name, seed, kept, kept_true)
