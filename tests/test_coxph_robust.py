"""The cluster-robust covariance of our Cox fitter against lifelines' (Lin & Wei's sandwich).

Reference: lifelines CoxPHFitter(robust=True).fit(..., cluster_col="id") on one row per account with time-fixed
covariates and no tied times (so Efron's and Breslow's residuals agree), whose robust standard errors it reports (its variance_matrix_
stays the model-based one); ours on the same accounts split into
several (start, stop] rows, clustered by account. Splitting at times with time-fixed covariates changes neither the
partial likelihood nor an account's summed score residuals, so the two must agree; tolerance 1e-6.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from pipelines.models.coxph import TimeVaryingCox


def accounts(seed: int, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.integers(0, 2, n).astype(float),
                      "x3": rng.exponential(size=n)})
    # a misspecified truth (x3 enters squared), so the sandwich differs from the model-based covariance
    hazard = np.exp(0.5 * x.x1 - 0.7 * x.x2 + 0.4 * x.x3 ** 2 - 1.0)
    time = rng.exponential(1.0 / hazard)
    censor = rng.uniform(0.5, 4.0, n)
    return x.assign(duration=np.minimum(time, censor), event=(time <= censor).astype(int), id=np.arange(n))


def split(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Each account as up to three (start, stop] rows, cut at random times inside its follow-up."""
    rng = np.random.default_rng(seed + 1000)
    rows = []
    for account in frame.itertuples():
        cuts = np.sort(rng.uniform(0, account.duration, rng.integers(0, 3)))
        edges = [0.0, *cuts, account.duration]
        for i, (start, stop) in enumerate(zip(edges[:-1], edges[1:])):
            rows.append({"id": account.id, "start": start, "stop": stop, "x1": account.x1, "x2": account.x2,
                         "x3": account.x3, "event": int(account.event and i == len(edges) - 2)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", range(3))
def test_cluster_robust_covariance_equals_lifelines(seed):
    frame = accounts(seed)
    assert frame.duration.nunique() == len(frame)  # no tied times
    reference = CoxPHFitter().fit(frame[["x1", "x2", "x3", "duration", "event", "id"]], duration_col="duration",
                                  event_col="event", cluster_col="id", robust=True,
                                  fit_options={"precision": 1e-10})
    rows = split(frame, seed)
    assert len(rows) > len(frame)
    columns = ["x1", "x2", "x3"]
    ours = TimeVaryingCox().fit(rows.start, rows.stop, rows.event, rows[columns].to_numpy(), columns)
    np.testing.assert_allclose(ours.params_.to_numpy(), reference.params_[columns].to_numpy(), atol=1e-6)
    robust = ours.robust_variance(rows.id.to_numpy())
    np.testing.assert_allclose(np.sqrt(np.diag(robust.to_numpy())),
                               reference.standard_errors_[columns].to_numpy(), rtol=1e-6)
    # the truth is not log-linear in x3: the sandwich is not the model-based covariance
    assert not np.allclose(robust.to_numpy(), ours.variance_matrix_.to_numpy(), rtol=0.02)
