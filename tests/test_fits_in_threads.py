"""The build's model fits side by side in threads: the same figures, to the last bit, as one fit at a time."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from pipelines.models import fits_in_threads
from pipelines.models.calibration import HoldoutCalibration, spec_of
from pipelines.models.factor_effects import FactorEffects
from pipelines.models.fits_in_threads import alongside, map_in_threads, one_blas_thread
from pipelines.models.levers import Levers
from pipelines.models.risk import read_as_of


def test_results_come_back_in_the_order_of_the_inputs_and_an_error_reaches_the_caller():
    running, most = [0], [0]
    lock = threading.Lock()

    def square(x: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.01 * (5 - x % 5))  # the early inputs finish last
        with lock:
            running[0] -= 1
        return x * x

    assert map_in_threads(square, range(10), threads=3) == [x * x for x in range(10)]
    assert most[0] <= 3  # never more threads than asked for

    def fails_on_three(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        return x

    with pytest.raises(ValueError, match="three"):
        map_in_threads(fails_on_three, range(6), threads=2)
    assert map_in_threads(square, [], threads=4) == []



def test_work_alongside_runs_while_the_block_runs_and_its_error_reaches_the_caller():
    started, release = threading.Event(), threading.Event()

    def work() -> int:
        started.set()
        assert release.wait(10)
        return 42

    with alongside(work) as result:
        assert started.wait(10)  # begun before the block asked for it
        release.set()
        assert result() == 42

    def fails() -> int:
        raise ValueError("no forecast")

    with alongside(fails) as result:
        with pytest.raises(ValueError, match="no forecast"):
            result()

def _fitted(con, monkeypatch, threads: int):
    """Every model fitted here that runs its fits in threads, with `threads` of them."""
    monkeypatch.setattr(fits_in_threads, "MODEL_FIT_THREADS", threads)
    with one_blas_thread():
        effects = FactorEffects(max_accounts=2000).fit(con)
        levers = Levers(n_draws=50).fit(con)
        specs = [spec_of(factor, model) for factor, model in effects.models_.items()]
        calibration = HoldoutCalibration(specs[:3], horizons=(90,)).fit(con, read_as_of(con))
    return effects, levers, calibration


def test_factor_models_levers_and_checks_fitted_side_by_side_equal_those_fitted_one_at_a_time(demo_con, monkeypatch):
    one = _fitted(demo_con, monkeypatch, threads=1)
    side_by_side = _fitted(demo_con, monkeypatch, threads=3)
    (effects, levers, calibration), (effects_3, levers_3, calibration_3) = one, side_by_side
    assert len(effects.effects_) > 5 and len(levers.levers_) > 3 and len(calibration.table_) > 10
    pd.testing.assert_frame_equal(effects.effects_, effects_3.effects_, check_exact=True)
    pd.testing.assert_frame_equal(effects.stability_, effects_3.stability_, check_exact=True)
    assert effects.notes_ == effects_3.notes_
    assert list(effects.models_) == list(effects_3.models_)
    for factor, model in effects.models_.items():
        state, state_3 = model.state(), effects_3.models_[factor].state()
        state["model_info"].pop("fitted_at"), state_3["model_info"].pop("fitted_at")
        assert state == state_3
        # kept as stored: the coefficients and baseline, not a copy of the rows they were fitted on
        assert model.design_.X.empty
    pd.testing.assert_frame_equal(levers.levers_, levers_3.levers_, check_exact=True)
    assert levers.notes_ == levers_3.notes_
    pd.testing.assert_frame_equal(calibration.table_, calibration_3.table_, check_exact=True)
    assert calibration.errors_ == calibration_3.errors_
