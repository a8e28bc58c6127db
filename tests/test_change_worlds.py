"""`retention bench --change-worlds`: the worlds' truths and the table's figures, on a few panels (the bench itself
runs hundreds)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks.change_worlds import (ChangeWorld, change_worlds, missed_targets, simulate_change, simulate_world,
                                      summarise_fits)


def _fit_row(seed, log_estimate, ci, kept, kept_ci, kept_truth, planted=0.5, error=None):
    return {"world": "given", "planted_ratio": planted, "seed": seed, "kept_truth": kept_truth,
            "log_marginal_ratio": math.log(planted), "error": error, "log_estimate": log_estimate, "log_se": 0.1,
            "ci_lower": ci[0], "ci_upper": ci[1], "kept_estimate": kept, "kept_lower": kept_ci[0],
            "kept_upper": kept_ci[1], "seconds": 1.0}


def test_a_worlds_figures_are_the_panels_bias_coverage_and_verdicts_as_defined():
    """Three given panels of a world with a planted ratio of 0.5: one interval holds it, one misses, one panel the
    estimator refused (left out, counted)."""
    nan = math.nan
    fits = pd.DataFrame([
        _fit_row(1, -0.6, (0.4, 0.7), 10.0, (6.0, 12.0), 8.0),
        _fit_row(2, -0.9, (0.3, 0.45), 14.0, (12.0, 20.0), 10.0),
        _fit_row(3, nan, (nan, nan), nan, (nan, nan), 9.0, error="each group needs churned accounts"),
    ])
    row = summarise_fits(fits)
    assert (row["panels"], row["refused"]) == (2, 1)
    assert row["mean_log_estimate"] == pytest.approx(-0.75)
    assert row["bias_pct"] == pytest.approx(100 * (-0.75 - math.log(0.5)) / math.log(2))  # −8.2: under the limit
    assert row["bias_pct_se"] == pytest.approx(100 * np.std([-0.6, -0.9], ddof=1) / math.sqrt(2) / math.log(2))
    assert (row["coverage"], row["said_it_worked"], row["kept_coverage"]) == (0.5, 1.0, 0.5)
    assert row["kept_truth"] == 9.0 and row["kept_bias"] == 3.0 and row["kept_bias_pct"] == pytest.approx(100 / 3)
    assert missed_targets(pd.DataFrame([row])) == [
        "given (planted ratio 0.5): 95% intervals held the truth 50.0% of the time (± 35.4%), outside 93%–97%"]

    # no effect: no bias as a share of it, and an interval below 1 is a false "it worked"
    null = summarise_fits(pd.DataFrame([_fit_row(1, -0.3, (0.6, 0.95), 2.0, (0.1, 4.0), 0.0, planted=1.0),
                                        _fit_row(2, 0.1, (0.8, 1.3), -1.0, (-3.0, 2.0), 0.0, planted=1.0)]))
    assert math.isnan(null["bias_pct"]) and null["bias_log"] == pytest.approx(-0.1)
    assert (null["coverage"], null["said_it_worked"], null["kept_coverage"]) == (0.5, 0.5, 0.5)
    assert missed_targets(pd.DataFrame([null])) == [
        "given (planted ratio 1): said it worked 50.0% of the time, above 5.5%"]


def test_the_kept_truth_is_what_the_same_draws_lose_without_the_change():
    """The truth is computed from the hazards, in expectation given the world up to the change; the same seeds
    drawn without the change (the same accounts and draws up to it) lose, on average, that many more accounts
    among the reached ones after it."""
    change_month, seeds = 24, range(40)
    truths, lost = [], []
    for seed in seeds:
        with_change = simulate_change(seed, 0.6, accounts=1000, change_month=change_month)
        without = simulate_change(seed, 1.0, accounts=1000, change_month=change_month)
        assert without.kept_truth == 0.0 and without.log_marginal_ratio == pytest.approx(0.0, abs=1e-12)

        def churns_after(panel: pd.DataFrame) -> int:
            after = pd.to_datetime(panel.month_start) >= pd.Timestamp(with_change.change_date)
            return int(panel.churned[panel.is_treated & after].sum())

        truths.append(with_change.kept_truth)
        lost.append(churns_after(without.panel) - churns_after(with_change.panel))
    assert np.mean(truths) > 5
    assert abs(np.mean(lost) - np.mean(truths)) < 3 * np.std(lost, ddof=1) / math.sqrt(len(lost))


def test_frailty_leaves_the_marginal_ratio_between_the_planted_one_and_1():
    planted = simulate_world(ChangeWorld("frailty", 0.6, accounts=2000, frailty_sd=1.0), 3)
    plain = simulate_world(ChangeWorld("plain", 0.6, accounts=2000), 3)
    assert math.log(0.6) < plain.log_marginal_ratio < planted.log_marginal_ratio < 0


def test_change_worlds_gives_a_row_per_world_with_its_figures():
    worlds = [ChangeWorld("plain", 0.7, accounts=1500)]
    messages: list[str] = []
    table = change_worlds(3, worlds, first_seed=11, progress=messages.append)
    assert list(table.columns) == [
        "world", "planted_ratio", "panels", "refused", "log_truth", "mean_log_estimate", "bias_log", "bias_pct",
        "bias_pct_se", "coverage", "coverage_se", "said_it_worked", "log_marginal_truth", "bias_marginal_pct",
        "coverage_marginal", "kept_truth", "kept_mean_estimate", "kept_bias", "kept_bias_pct", "kept_bias_pct_se",
        "kept_coverage", "seconds_per_fit"]
    [row] = table.to_dict("records")
    assert (row["world"], row["panels"], row["refused"]) == ("plain", 3, 0) and len(messages) == 3
    assert row["bias_pct"] == pytest.approx(100 * (row["mean_log_estimate"] - math.log(0.7)) / -math.log(0.7))
    assert row["coverage"] in (0, 1 / 3, 2 / 3, 1) and row["kept_truth"] > 0 and row["seconds_per_fit"] > 0
    # three panels of 1,500 accounts: the estimate is within a few of its standard errors of the planted effect
    assert abs(row["bias_log"]) < 0.3
