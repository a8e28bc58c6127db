"""Many people at once in a real browser: six people click through the small demo together for 30 seconds.

The load test a user runs (`retention bench --users N`, benchmarks/load.py), on the small demo: each person a
Chromium context of their own, opening pages, changing sidebar filters and page widgets with 1-3 s of thought in
between. No page may show an exception or the app's error-id message, and the server's log must hold no traceback.
Latencies are printed for a person to read, never asserted (timed tests are flaky on a shared machine).
"""

from __future__ import annotations

import json

import pytest

from benchmarks.load import ACTION_WEIGHTS, run_load
from test_browser import ARTIFACTS, require_browser

pytestmark = pytest.mark.browser

PEOPLE, SECONDS = 6, 30


def test_six_people_at_once_see_no_error(small_demo_database, tmp_path):
    require_browser()
    log = tmp_path / "server.log"
    result = run_load(small_demo_database[0], users=PEOPLE, seconds=SECONDS, log_path=log, seed=21)
    figure = result.figure()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "load_six_people.json").write_text(json.dumps(figure, indent=2) + "\n", encoding="utf-8")

    assert result.page_exceptions == 0, result.exception_texts
    assert result.log_tracebacks == 0, result.log_traceback_texts
    assert result.timed_out == 0
    # everyone got in, and together they did every kind of thing, several times each
    assert len(result.first_renders) == PEOPLE
    assert set(result.actions_by_kind) == set(ACTION_WEIGHTS)
    assert result.actions >= PEOPLE * 3, figure
    # the server's own answer was read from the websocket for every run that was waited on
    assert len(result.server_answers) >= result.actions
