"""Many people at once in a real browser: six people click through the small demo together, three actions each.

The load test a user runs (`retention bench --users N`, benchmarks/load.py), on the small demo: each person a
Chromium context of their own, opening pages, changing sidebar filters and page widgets with 1-3 s of thought in
between. No page may show an exception or the app's error-id message, and the server's log must hold no traceback.
Each person stops after a number of actions, not after a time, so a slow machine takes longer rather than failing;
the time is only a cap. Latencies are printed for a person to read, never asserted (timed tests are flaky on a
shared machine).
"""

from __future__ import annotations

import json

import pytest

from benchmarks.load import ACTION_WEIGHTS, run_load
from test_browser import ARTIFACTS, require_browser

pytestmark = pytest.mark.browser

PEOPLE, ACTIONS_EACH = 6, 3
# only a cap, far above what the actions take: a walk that reaches it has hung, and the count below says so
CAP_SECONDS = 300


def test_six_people_at_once_see_no_error(small_demo_database, tmp_path):
    require_browser()
    log = tmp_path / "server.log"
    result = run_load(small_demo_database[0], users=PEOPLE, seconds=CAP_SECONDS, log_path=log, seed=21,
                      actions_each=ACTIONS_EACH)
    figure = result.figure()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "load_six_people.json").write_text(json.dumps(figure, indent=2) + "\n", encoding="utf-8")

    assert result.page_exceptions == 0, result.exception_texts
    assert result.log_tracebacks == 0, result.log_traceback_texts
    assert result.timed_out == 0
    # everyone got in, and together they did every kind of thing, several times each
    assert len(result.first_renders) == PEOPLE
    assert set(result.actions_by_kind) == set(ACTION_WEIGHTS)
    assert result.actions == PEOPLE * ACTIONS_EACH, figure
    # the server's own answer was read from the websocket for every run that was waited on
    assert len(result.server_answers) >= result.actions
