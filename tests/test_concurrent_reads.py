"""Many people at once: the app's data functions run from many threads against one build give each caller the
answer it would get alone.

Streamlit serves every session on a thread of its own, all in one process, so every object the data layer shares
between sessions (the build's DuckDB instance, the cached models and rows) is used by many threads at once. A DuckDB
connection serves one call at a time: shared, it fails ("connection is busy") or hands one caller another's rows.
Each call here is made first alone, then 16 threads make 50 calls each, in a seeded random mix of the overview's,
the drivers page's, the what-if's and the at-risk page's queries, with filters and as people of different scopes,
on empty caches; every result must equal the one made alone.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import pytest
import streamlit as st

from dashboard import auth, data
from pipelines.access import LOCAL_ACCESS, ROLE_PERMISSIONS, Access

THREADS, CALLS_PER_THREAD = 16, 50

PEOPLE = {
    "local": LOCAL_ACCESS,
    "csm Dana": Access("dana@example.com", "csm", ("csm=Dana Ruiz",), ROLE_PERMISSIONS["csm"]),
    "csm Lea": Access("lea@example.com", "csm", ("csm=Lea Martin",), ROLE_PERMISSIONS["csm"]),
    "executive": Access("exec@example.com", "executive", (), ROLE_PERMISSIONS["executive"]),
}
FILTER_SETS = ((), ("plan=Starter",), ("region=EMEA",), ("plan=Business", "signup_cohort_month>=2024-01"))


@dataclass(frozen=True)
class Call:
    """One data call as a page makes it: who asks, what, with which filters."""

    person: str
    name: str
    filters: tuple[str, ...]

    def __call__(self) -> object:
        con = data.connection()  # the calling thread's own, as a page gets it
        info = data.build_info(con)
        build_id, as_of = info["build_id"], info["as_of_date"]
        with auth.acting_for(PEOPLE[self.person]):
            return QUERIES[self.name](con, build_id, as_of, self.filters)


def outcome(call: Call) -> object:
    """The call's result, or what it refused with: a filter that leaves no accounts to fit is refused alone too."""
    try:
        return call()
    except ValueError as error:  # the data layer's input errors (nothing to fit, no accounts match) are ValueErrors
        return ("refused", type(error).__name__, str(error))


def _whatif(con, build_id, as_of, filters):
    result = data.cached_whatif(con, build_id, (("first_response_hours", "-50%"),), 365, filters)
    return {key: value for key, value in result.items()}


QUERIES: dict[str, Callable] = {
    # the overview
    "build info": lambda con, build_id, as_of, filters: data.build_info(con),
    "kpis (cached)": lambda con, build_id, as_of, filters: data.cached_kpis(con, build_id, filters, as_of),
    "headline": lambda con, build_id, as_of, filters: data.headline_kpis(con, filters, as_of),
    "kpi monthly": lambda con, build_id, as_of, filters: data.kpi_monthly(con, filters, as_of),
    "cohorts": lambda con, build_id, as_of, filters: data.cohort_retention(con, filters, as_of),
    "segment levels": lambda con, build_id, as_of, filters: data.segment_levels(con, "plan"),
    "findings": lambda con, build_id, as_of, filters: data.findings_effects(con, build_id, filters, False),
    # the survival explorer
    "survival by plan": lambda con, build_id, as_of, filters: data.survival(con, "plan", filters).curves_,
    # the drivers page
    "stored drivers": lambda con, build_id, as_of, filters: data.drivers_fit(con, build_id, filters, False),
    "drivers refit": lambda con, build_id, as_of, filters: data.drivers_fit(con, build_id, filters, True),
    "quartiles": lambda con, build_id, as_of, filters: data.churn_by_quartile(con, "first_response_hours", filters),
    # the investment case
    "what-if": _whatif,
    # the at-risk page
    "risk": lambda con, build_id, as_of, filters: data.cached_risk(con, build_id, filters),
    "risk csv (on click)": lambda con, build_id, as_of, filters: data.risk_csv.captured(con, filters)(),
}


# when a refit ran, not what it found: two refits of the same accounts differ only here
CLOCK_KEYS = {"fitted_at", "fit_seconds"}


def assert_same(alone: object, together: object, where: str) -> None:
    if isinstance(alone, pd.DataFrame):
        pd.testing.assert_frame_equal(together, alone, obj=where)
    elif isinstance(alone, pd.Series):
        pd.testing.assert_series_equal(together, alone, obj=where)
    elif isinstance(alone, np.ndarray):
        np.testing.assert_array_equal(together, alone, err_msg=where)
    elif isinstance(alone, dict):
        assert isinstance(together, dict) and together.keys() == alone.keys(), where
        for key in alone.keys() - CLOCK_KEYS:
            assert_same(alone[key], together[key], f"{where}[{key!r}]")
    elif isinstance(alone, (tuple, list)):
        assert type(together) is type(alone) and len(together) == len(alone), where
        for i, (a, b) in enumerate(zip(alone, together)):
            assert_same(a, b, f"{where}[{i}]")
    else:
        assert together == alone, where


@pytest.fixture
def app_build(small_demo_database, monkeypatch):
    """The small demo as the app's build, with every Streamlit cache empty before and after."""
    monkeypatch.setenv("RETENTION_DB", str(small_demo_database[0]))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield small_demo_database[0]
    st.cache_data.clear()
    st.cache_resource.clear()


def mixed_calls(seed: int) -> list[list[Call]]:
    """THREADS lists of CALLS_PER_THREAD calls each: every query with every person and filter set, shuffled."""
    rng = random.Random(seed)
    every = [Call(person, name, filters) for person in PEOPLE for name in QUERIES for filters in FILTER_SETS
             if not (name == "drivers refit" and not filters)]
    calls = [rng.choice(every) for _ in range(THREADS * CALLS_PER_THREAD)]
    return [calls[i::THREADS] for i in range(THREADS)]


def test_concurrent_reads_give_each_caller_its_own_answer(app_build):
    plan = mixed_calls(seed=2026)
    distinct = sorted({call for calls in plan for call in calls}, key=repr)
    # every query, person and filter set is in the mix
    assert {c.name for c in distinct} == set(QUERIES) and {c.person for c in distinct} == set(PEOPLE)

    alone = {call: outcome(call) for call in distinct}
    # a scoped person's answers are not everyone's: the scope is in the SQL, so a crossed result would show
    dana, everyone = alone.get(Call("csm Dana", "risk", ())), alone.get(Call("local", "risk", ()))
    if dana is not None and everyone is not None:  # (totals, the riskiest, calibration, model info)
        assert 0 < dana[0]["accounts_scored"] < everyone[0]["accounts_scored"]

    st.cache_data.clear()
    st.cache_resource.clear()  # the build's instance too: the threads open it together
    start = threading.Barrier(THREADS)
    failures: list[tuple[Call, BaseException]] = []
    mismatches: list[str] = []
    done = [0] * THREADS

    def person(index: int) -> None:
        start.wait()
        for call in plan[index]:
            try:
                result = outcome(call)
            except BaseException as error:  # noqa: BLE001 - reported below with the call that raised it
                failures.append((call, error))
                continue
            try:
                assert_same(alone[call], result, repr(call))
            except AssertionError as error:
                mismatches.append(str(error).splitlines()[0])
            done[index] += 1

    threads = [threading.Thread(target=person, args=(i,), name=f"person-{i}") for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not failures, [f"{call}: {type(error).__name__}: {error}" for call, error in failures[:10]]
    assert not mismatches, mismatches[:10]
    assert sum(done) == THREADS * CALLS_PER_THREAD


def test_each_thread_reads_through_a_cursor_of_its_own(app_build):
    """One cursor per thread, the same on every call of that thread, and all of one build's instance."""
    cursors: dict[str, list] = {}

    def collect() -> None:
        cursors[threading.current_thread().name] = [data.connection() for _ in range(3)]

    threads = [threading.Thread(target=collect, name=f"reader-{i}") for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    per_thread = [held for held in cursors.values()]
    assert all(held[0] is held[1] is held[2] for held in per_thread)
    assert len({id(held[0]) for held in per_thread}) == 4
    builds = {data.build_info(held[0])["build_id"] for held in per_thread}
    assert len(builds) == 1
