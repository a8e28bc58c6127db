"""The shortcuts the build's many Cox fits take give the answers of the plain computation: Harrell's C against
lifelines' `concordance_index` (exactly, on data with tied times, tied scores and censoring), and fits that share
the standardised columns, the risk sets and the column checks against fits that compute their own (to the last
bit, since each shared piece is computed column by column or as exact counts)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from lifelines.utils import concordance_index as lifelines_concordance_index

from pipelines.models import coxph
from pipelines.models.coxph import (StandardisedColumns, TimeVaryingCox, _count_below, _risk_set_sums,
                                    _weighted_risk_set_sums, concordance_index, risk_sets)
from pipelines.models.drivers import ColumnChecks, Design, _drop_unusable, drop_inestimable


@pytest.mark.parametrize("seed", range(40))
def test_concordance_index_equals_lifelines_with_tied_times_tied_scores_and_censoring(seed):
    """Exact float equality with lifelines 0.30 `concordance_index(times, scores, events)`: integer times from a
    few values (churns and censorings tie with each other), scores rounded so many tie, any share censored."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 600))
    times = rng.integers(0, int(rng.integers(1, 40)), n).astype(float)
    scores = np.round(rng.normal(size=n), int(rng.integers(0, 3)))
    churned = rng.random(n) < rng.uniform(0.05, 0.95)
    try:
        expected = lifelines_concordance_index(times, scores, churned)
    except ZeroDivisionError:  # no comparable pair: lifelines raises, ours is NaN
        expected = math.nan
    result = concordance_index(times, scores, churned)
    assert result == expected or (math.isnan(result) and math.isnan(expected))


def test_concordance_index_on_a_horizon_split_as_calibration_uses_it():
    """The calibration's shape: churns before the horizon, every other account censored at it (tied with a churn on
    the horizon's last day), probabilities with many exact ties; minus the probability is the predicted time."""
    rng = np.random.default_rng(11)
    n = 20_000
    days = rng.integers(1, 91, n).astype(float)
    churned = rng.random(n) < 0.08
    times = np.where(churned, days, 90.0)
    probability = np.round(rng.beta(1, 20, n), 3)
    assert concordance_index(times, -probability, churned) == lifelines_concordance_index(times, -probability, churned)


def test_concordance_index_names_nan_inputs():
    with pytest.raises(ValueError, match="NaN"):
        concordance_index([1.0, 2.0], [0.5, np.nan], [1, 0])


@pytest.mark.parametrize("grid_cells, step_cells, code_scale", [(16_000_000, 1_000_000, 1), (500, 37, 1),
                                                                 (500, 37, 1_000)])
def test_the_dominance_count_equals_counting_each_pair(monkeypatch, grid_cells, step_cells, code_scale):
    """The count Harrell's C stands on, against its definition pair by pair: with the grid of the build, with a
    small grid filled a few bins at a time (wide bins, so most of each count is read from the grid), and with codes
    too sparse for a running count over them (so the prefixes are found by binary search). Some queries' groups are
    above every item's, so they count every item below them, read from the items' running sum."""
    monkeypatch.setattr(coxph, "_COUNT_GRID_CELLS", grid_cells)
    monkeypatch.setattr(coxph, "_GRID_STEP_CELLS", step_cells)
    rng = np.random.default_rng(5)
    n_items, n_queries = 4_000, 700
    group = rng.integers(0, 60, n_items)
    code = rng.integers(0, 300, n_items) * code_scale
    sign = rng.choice([-1, 1], n_items)
    query_group = rng.integers(0, 64, n_queries)
    query_code = rng.integers(0, 300, n_queries) * code_scale
    below = (group[None, :] <= query_group[:, None]) & (code[None, :] < query_code[:, None])
    tied = (group[None, :] <= query_group[:, None]) & (code[None, :] == query_code[:, None])
    expected = 2 * (below * sign).sum(axis=1) + (tied * sign).sum(axis=1)
    np.testing.assert_array_equal(_count_below(group, code, sign, query_group, query_code), expected)


def panel(seed: int, n: int = 3_000) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """(start, stop] rows with tied integer times and five covariates of different kinds."""
    rng = np.random.default_rng(seed)
    start = rng.integers(0, 30, n).astype(float)
    stop = start + rng.integers(1, 10, n)
    X = pd.DataFrame({"x1": rng.normal(size=n), "flag": (rng.random(n) < 0.3).astype(float),
                      "x2": rng.exponential(size=n), "count": rng.poisson(2.0, n).astype(float),
                      "x3": rng.normal(size=n)})
    hazard = np.exp(0.4 * X.x1 - 0.5 * X.flag + 0.2 * X.x2 - 3.0)
    event = rng.random(n) < hazard
    return start, stop, event, X


@pytest.mark.parametrize("seed", range(3))
def test_fit_on_shared_standardised_columns_equals_the_fit_on_its_own_columns(seed):
    start, stop, event, X = panel(seed)
    shared = StandardisedColumns(X.to_numpy(), list(X.columns))
    rs = risk_sets(start, stop, event)
    for names in (["x1", "flag"], ["x3", "x1", "count"], list(X.columns)):
        alone = TimeVaryingCox().fit(start, stop, event, X[names].to_numpy(), names)
        sharing = TimeVaryingCox().fit(start, stop, event, None, names, risk_sets=rs, standardised=shared)
        assert np.array_equal(sharing.means_, alone.means_) and np.array_equal(sharing.scales_, alone.scales_)
        assert np.array_equal(sharing._Z, alone._Z)
        assert np.array_equal(sharing.params_.to_numpy(), alone.params_.to_numpy())
        assert np.array_equal(sharing.variance_matrix_.to_numpy(), alone.variance_matrix_.to_numpy())
        assert sharing.iterations_ == alone.iterations_ and sharing.log_likelihood_ == alone.log_likelihood_


def test_shared_standardised_columns_refuse_a_constant_column_as_a_fit_of_it_does():
    start, stop, event, X = panel(0)
    X = X.assign(constant=1.0)
    shared = StandardisedColumns(X.to_numpy(), list(X.columns))
    with pytest.raises(ValueError, match="constant covariates"):
        TimeVaryingCox().fit(start, stop, event, None, ["x1", "constant"], standardised=shared)


def test_weighted_risk_set_sums_equal_the_sums_of_the_weighted_rows():
    start, stop, event, X = panel(4)
    rs = risk_sets(start, stop, event)
    weights = np.exp(np.random.default_rng(4).normal(size=len(start)))
    values = np.ascontiguousarray(X.to_numpy())
    assert np.array_equal(_weighted_risk_set_sums(weights, values, rs), _risk_set_sums(values * weights[:, None], rs))


def test_column_checks_drop_the_terms_the_checks_on_the_subset_drop():
    """Constant, collinear, a 0/1 term without churn and one nested in another with no churn between: the checks
    computed once on the whole design drop the same terms, for the same reasons, in every subset."""
    start, stop, event, X = panel(5)
    rng = np.random.default_rng(5)
    X = X.assign(constant=2.0, sum_of_two=X.x1 + 2 * X.x2, no_churn=0.0, within_flag=0.0)
    quiet = np.flatnonzero(~event)
    X.loc[quiet[:50], "no_churn"] = 1.0  # marks rows none of which churned
    X["within_flag"] = X.flag * (rng.random(len(X)) < 0.5)
    # the flagged rows outside within_flag have no churn: within_flag cannot be told apart from flag
    event = event & ~((X.flag == 1) & (X.within_flag == 0)).to_numpy()
    terms = pd.DataFrame({"term": X.columns, "factor": X.columns, "level": "", "pillar": "", "unit": ""})
    checks = ColumnChecks(X, event)
    for names in (list(X.columns), ["x2", "sum_of_two", "x1", "constant"], ["flag", "within_flag", "no_churn", "x3"]):
        subset, subset_terms = X[names], terms.set_index("term").loc[names].reset_index()
        plain = _drop_unusable(subset, subset_terms)
        checked = _drop_unusable(subset, subset_terms, checks)
        assert list(checked[0].columns) == list(plain[0].columns) and checked[2] == plain[2]
        design = Design(X=plain[0], terms=plain[1], dropped=plain[2])
        assert drop_inestimable(design, event, checks).dropped == drop_inestimable(design, event).dropped
    every = drop_inestimable(Design(X=X, terms=terms), event, checks)
    assert {d["term"] for d in every.dropped} >= {"no_churn", "within_flag"}
