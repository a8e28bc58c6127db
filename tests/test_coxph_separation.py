"""A Cox fit that cannot converge says so within a few Newton steps. A term that separates churners (small data: a
handful of accounts, a first import) has no maximum likelihood: Newton's steps flatten out or overflow. The fit
used to try every remaining step, each with a full search of step halvings, before saying so, which made a build
of six accounts take longer than one of thousands."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.models import coxph
from pipelines.models.coxph import ConvergenceError, TimeVaryingCox

N = 20
# (start, stop] rows of one account each: the account that churns first at every churn time
ORDER_OF_CHURN = -np.arange(1, N + 1.0)
# a full search of halvings on each step the fit has: what giving up late costs
LATE = TimeVaryingCox().max_iter * 31


def _counted_likelihoods(monkeypatch) -> list[int]:
    calls = [0]
    plain = coxph._efron_terms

    def counted(*args, **kwargs):
        calls[0] += 1
        return plain(*args, **kwargs)

    monkeypatch.setattr(coxph, "_efron_terms", counted)
    return calls


@pytest.mark.parametrize("columns", [
    pytest.param([ORDER_OF_CHURN], id="one term that orders the churns"),
    pytest.param([ORDER_OF_CHURN, np.random.default_rng(1).normal(size=N)], id="beside a term of noise"),
])
def test_a_term_that_separates_churners_ends_the_fit_within_a_few_steps(monkeypatch, columns):
    calls = _counted_likelihoods(monkeypatch)
    with pytest.raises(ConvergenceError):
        TimeVaryingCox().fit(np.zeros(N), np.arange(1, N + 1.0), np.ones(N, bool), np.column_stack(columns))
    assert calls[0] < LATE / 5, f"{calls[0]} likelihood evaluations before giving up"


def test_a_fit_with_a_maximum_still_converges_as_before(monkeypatch):
    """The early end is only for steps that cannot raise the likelihood: an ordinary fit converges in a few steps,
    to lifelines' answer (tests/test_drivers.py), with its search unchanged."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 2))
    stop = rng.exponential(1 / np.exp(x @ np.array([0.5, -0.3]))) + 1e-3
    churned = rng.random(400) < 0.7
    calls = _counted_likelihoods(monkeypatch)
    model = TimeVaryingCox().fit(np.zeros(400), stop, churned, x)
    assert model.iterations_ <= 8 and calls[0] <= 2 * model.iterations_ + 1
    assert np.allclose(model.params_.to_numpy(), [0.5, -0.3], atol=0.2)
