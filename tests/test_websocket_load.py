"""Many people at once without a browser: the load test's websocket client on the small demo.

The light client (benchmarks/ws_load.py) plays each person over Streamlit's websocket protocol, sending the rerun
requests Chromium sends. What it measures is only worth reading if the server understood those requests: so four
people walk the small demo, three actions each, and every kind of action must have happened, with no exception on
a page, no traceback in the server's log, no run left unfinished, and no filter change or page opening the server
ignored; and one person changes every page widget of every page, each of which must redraw its page. A widget
value of the wrong kind shows the app's error-id message; one under a wrong widget id leaves the page as it was;
either fails here. Latencies are printed for a person to read, never asserted.
"""

from __future__ import annotations

import json
import random

import pytest

from benchmarks.load import ACTION_WEIGHTS, LoadResult, measure_load
from benchmarks.ws_load import CHANGED_KINDS, SocketPerson, Widget, changed_state, drawn_state, run_websocket_load
from streamlit.proto.Selectbox_pb2 import Selectbox
from streamlit.proto.Slider_pb2 import Slider
from test_browser import ARTIFACTS

pytestmark = pytest.mark.browser

PEOPLE, ACTIONS_EACH = 4, 3
# only a cap, far above what the actions take: a walk that reaches it has hung, and the count below says so
CAP_SECONDS = 300


def test_websocket_people_see_no_error_and_every_change_is_taken_up(small_demo_database, tmp_path):
    result = run_websocket_load(small_demo_database[0], users=PEOPLE, seconds=CAP_SECONDS,
                                log_path=tmp_path / "server.log", seed=21, actions_each=ACTIONS_EACH)
    figure = result.figure()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "load_websocket_people.json").write_text(json.dumps(figure, indent=2) + "\n", encoding="utf-8")

    assert result.failures() == {}
    # everyone got in, and together they did every kind of thing, several times each
    assert len(result.first_renders) == PEOPLE
    assert set(result.actions_by_kind) == set(ACTION_WEIGHTS), figure
    assert result.actions == PEOPLE * ACTIONS_EACH, figure
    assert len(result.server_answers) == result.actions


def test_every_kind_of_page_widget_the_walk_changes_redraws_the_page(small_demo_database, tmp_path):
    """With no filter every page widget shows its value (a chart, a table, a section), so the page drawn after a
    change must differ from the one before: a value the server did not take up leaves it as it was."""
    unchanged, changed_kinds = [], set()

    async def change_every_widget(base_url: str) -> None:
        person = SocketPerson(0, base_url, seed=3, result=result, progress=lambda text: None)
        await person.open()
        try:
            for page_hash in list(person.pages):
                await person.act("open a page", person.page_request(page_hash))
                for widget in [w for w in person.widgets.values() if not w.in_sidebar and w.kind in CHANGED_KINDS]:
                    rerun = person.change_request("change a page widget", person.widgets[widget.proto.id])
                    if rerun is None:
                        continue
                    before = person.drawn
                    await person.act("change a page widget", rerun)
                    changed_kinds.add(widget.kind)
                    if person.drawn == before:
                        unchanged.append(f"{person.pages[page_hash][0]}: {rerun.what}")
        finally:
            await person.close()

    result = LoadResult(users=1, seconds=0, client="websocket", ignored_changes=0)
    measure_load(small_demo_database[0], tmp_path / "server.log", result, change_every_widget, lambda text: None)

    assert result.failures() == {}
    assert changed_kinds == set(CHANGED_KINDS)
    assert unchanged == []


def test_a_select_box_goes_back_to_all_or_to_another_option_as_in_the_browser():
    box = Selectbox(id="plan", options=["All", "Business", "Starter"], default=0)
    current = drawn_state("selectbox", box)
    assert current.string_value == "All"
    chosen = {changed_state(Widget("selectbox", box, True), current, random.Random(seed))[0].string_value
              for seed in range(20)}
    assert chosen == {"Business", "Starter"}  # never the value it already has


def test_a_select_slider_moves_one_option_and_a_slider_one_step_within_its_range():
    horizon = Slider(id="horizon", type=Slider.SELECT_SLIDER, options=["90 days", "180 days", "365 days"],
                     default=[2], min=0, max=2, step=1)
    moved = {tuple(state.string_array_value.data) for seed in range(20)
             if (changed := changed_state(Widget("slider", horizon, False), None, random.Random(seed)))
             for state in [changed[0]]}
    assert moved == {("180 days",)}  # right of the last option there is nowhere to go

    top = Slider(id="top", type=Slider.SLIDER, default=[50], min=10, max=55, step=10)
    moved = {tuple(changed[0].double_array_value.data) for seed in range(20)
             if (changed := changed_state(Widget("slider", top, False), None, random.Random(seed)))}
    assert moved == {(40.0,), (55.0,)}
