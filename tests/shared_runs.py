"""Work that several tests share and that takes a while (the statistical tests' seeds, the bench's run, the demo
databases): done once per test run, by whichever pytest-xdist process asks first, and the seeds fitted in a process
pool of their own."""

from __future__ import annotations

import fcntl
import os
import pickle
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Callable, TypeVar

import pytest

T = TypeVar("T")


def seed_pool() -> ProcessPoolExecutor:
    # Spawned, not forked: under pytest-xdist the test process has already run DuckDB and BLAS, whose threads a fork
    # does not carry over, and a forked worker can die on a lock one of them held at the fork (CI saw it once as a
    # BrokenProcessPool). A spawned worker imports afresh, which costs a few seconds per worker, not per seed.
    return ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn"))


def once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str, compute: Callable[[], T]) -> T:
    """compute() once per test run. pytest-xdist may hand a file's tests to both its processes, and each would do
    the work again: the first to ask computes, and leaves the result pickled in the run's shared temporary folder
    for the other, which waits on a lock meanwhile. A failure leaves nothing, so the other process fails on its
    own."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return compute()
    shared = tmp_path_factory.getbasetemp().parent
    result = shared / f"{name}.pickle"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if result.exists():
            return pickle.loads(result.read_bytes())
        value = compute()
        result.write_bytes(pickle.dumps(value))
        return value
