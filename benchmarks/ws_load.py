"""The load test's light client: each simulated person speaks Streamlit's websocket protocol, with no browser.

On a small machine a browser per person takes the cores the server needs, so beyond a few people the browser walk
measures the browsers as much as the server. Here each person is one websocket to the app's `/_stcore/stream`
(one Streamlit session each, as with a browser) in a single asyncio loop, doing what the browser walk does: the
same seeded choice of actions and 1 to 3 s of thought (benchmarks/load.py), and the same rerun requests Chromium
sends for them, as read from Chromium's own frames:

- the first request carries no page and no widget values; later ones carry the page's script hash, the query
  string the app last set on this page (none right after opening another page), the hashes of the large messages
  kept from recent runs (the server then sends a reference instead), and the value of every widget the browser
  holds: select boxes, multiselects, sliders and number inputs from their first drawing, radios and toggles once
  changed, only the sidebar's when opening another page, and none of a widget the last run did not draw;
- a widget's value is the option's label for a select box or a radio, labels for a select slider or a
  multiselect, numbers for a slider, true or false for a toggle or a checkbox. A person learns which widgets the
  page has, and their options, ranges and values, from the elements of the server's deltas.

What is measured, per action: the latency from sending the rerun request to the server's message that the run
finished, the server's whole answer with no browser drawing (so action latency and server answer are one figure
here; a person's first render is reported apart, as with the browser). Page exceptions are Streamlit's exception
elements and the app's error-id message in an alert or markdown element of the run, counted once per action; a
run that does not end within the time allowed, or whose connection closes, counts as timed out. A sidebar filter's
change or another page's opening after which the server drew the page exactly as before (the same page, query
string and hashes of every element, which the server sends with each) counts as a change it ignored: a filter
always shows, in the page's caption and its address. A page widget's change may rightly leave a page as it was (a
filter that leaves no account shows the same message whatever the widget), so it is not counted;
tests/test_websocket_load.py checks each kind on an unfiltered page.

Nothing here prints: the bench command reports what `run_websocket_load` returns, and progress goes to `progress`.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypedDict

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState, ContextInfo
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.NumberInput_pb2 import NumberInput
from streamlit.proto.Slider_pb2 import Slider
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Origin, Subprotocol

from benchmarks.load import (OPEN_THE_APP, RUN_END_TIMEOUT_S, LoadError, LoadResult, measure_load, next_actions,
                             pick_option, walk_together)
from dashboard.errors import ERROR_ID_TEXT

STREAM_PATH = "/_stcore/stream"
# a delta's path starts with its root container: 0 is the page's main area, 1 the sidebar
SIDEBAR = 1
# what the browser walk changes on a page; never a button, an upload or a form
CHANGED_KINDS = ("selectbox", "radio", "checkbox", "slider")
# the widgets whose value the browser sends from their first drawing; a radio's or a toggle's only once changed
SENT_FROM_FIRST_DRAWING = ("selectbox", "multiselect", "slider", "number_input")
WIDGET_KINDS = (*CHANGED_KINDS, "multiselect", "number_input")
# elements drawn differently at every run of an unchanged page
NEW_AT_EVERY_RUN = ("download_button",)
# actions whose run always changes what the page shows, when the server takes them up
ALWAYS_SHOWN = ("open a page", "change a sidebar filter")
# the server's own default, used until its first message says otherwise
MAX_CACHED_MESSAGE_AGE = 2
# as a browser in the machine's settings reports them
class _Context(TypedDict):
    """ContextInfo's fields that a browser reports about itself."""
    timezone: str
    timezone_offset: int
    locale: str
    is_embedded: bool
    color_scheme: str


CONTEXT: _Context = {"timezone": "UTC", "timezone_offset": 0, "locale": "en-US", "is_embedded": False,
           "color_scheme": "light"}


@dataclass
class Widget:
    """A widget of the last finished run, as its element drew it."""
    kind: str  # the element's type: selectbox, radio, checkbox, slider, multiselect, number_input
    # the element's message (Selectbox, Radio, Slider, ... as `kind` says): its id, options, range, default and any
    # value the server set
    proto: Any
    in_sidebar: bool


@dataclass
class Rerun:
    """What an action asks the server for: a run of a page with these widget values."""
    page_hash: str
    states: list[WidgetState]
    query_string: str
    what: str  # what was done, for the slowest actions


def drawn_state(kind: str, proto) -> WidgetState | None:
    """The value a widget holds as drawn (the server's when it set one, else its default), as the browser sends it;
    None for a widget with no value (a select box with nothing selected) or of a kind a person never sends."""
    state = WidgetState(id=proto.id)
    if kind in ("selectbox", "radio"):
        if proto.set_value and proto.HasField("raw_value"):
            state.string_value = proto.raw_value
        elif proto.HasField("default") and proto.default < len(proto.options):
            state.string_value = proto.options[proto.default]
        else:
            return None
    elif kind == "checkbox":
        state.bool_value = proto.value if proto.set_value else proto.default
    elif kind == "slider" and proto.type == Slider.SELECT_SLIDER:
        labels = list(proto.raw_value) if proto.set_value else [proto.options[int(i)] for i in proto.default]
        state.string_array_value.data.extend(labels)
    elif kind == "slider":
        state.double_array_value.data.extend(proto.value if proto.set_value else proto.default)
    elif kind == "multiselect":
        labels = list(proto.raw_values) if proto.set_value else [proto.options[i] for i in proto.default]
        state.string_array_value.data.extend(labels)
    elif kind == "number_input":
        if proto.set_value and proto.HasField("value"):
            value = proto.value
        elif proto.HasField("default"):
            value = proto.default
        else:
            return None
        if proto.data_type == NumberInput.INT:
            state.int_value = int(value)
        else:
            state.double_value = value
    else:
        return None
    return state


def changed_state(widget: Widget, current: WidgetState | None, rng: random.Random) -> tuple[WidgetState, str] | None:
    """The value a person gives the widget, chosen as the browser walk chooses it, and what was done; None when
    the widget cannot take another value (disabled, a radio of one option, a slider at the end it moved to)."""
    proto, kind = widget.proto, widget.kind
    current = current if current is not None else drawn_state(kind, proto)
    if proto.disabled:
        return None
    state = WidgetState(id=proto.id)
    if kind == "selectbox":
        options = list(proto.options)
        selected = {options.index(current.string_value)} if current and current.string_value in options else set()
        choice = pick_option(rng, options, selected)
        if choice is None:
            return None
        state.string_value = options[choice]
        return state, f"select: {options[choice][:40]}"
    if kind == "multiselect":
        # a person picks one more value, or clears the box when every value is picked
        options = list(proto.options)
        chosen = list(current.string_array_value.data) if current else []
        left = [o for o in options if o not in chosen]
        state.string_array_value.data.extend(chosen + [left[rng.randrange(len(left))]] if left else [])
        return state, f"multiselect: {(left and state.string_array_value.data[-1] or 'cleared')[:40]}"
    if kind == "radio":
        unchecked = [o for o in proto.options if current is None or o != current.string_value]
        if not unchecked:
            return None
        state.string_value = unchecked[rng.randrange(len(unchecked))]
        return state, f"radio: {state.string_value[:40]}"
    if kind == "checkbox":
        state.bool_value = not (current.bool_value if current else False)
        return state, f"toggle: {proto.label[:40]}"
    # a slider: one arrow key on its first thumb, one step within its range (and never past its second thumb)
    if current is None:  # a slider always holds a value as drawn (drawn_state)
        return None
    step = rng.choice([-1, 1])
    if proto.type == Slider.SELECT_SLIDER:
        labels = list(current.string_array_value.data)
        options = list(proto.options)
        moved = min(max(options.index(labels[0]) + step, 0), len(options) - 1)
        if len(labels) > 1:
            moved = min(moved, options.index(labels[1]))
        if options[moved] == labels[0]:
            return None
        state.string_array_value.data.extend([options[moved], *labels[1:]])
    else:
        values = list(current.double_array_value.data)
        moved = min(max(values[0] + step * proto.step, proto.min), values[1] if len(values) > 1 else proto.max)
        if moved == values[0]:
            return None
        state.double_array_value.data.extend([moved, *values[1:]])
    return state, "slider"


class SocketPerson:
    """One simulated person: a websocket of their own, their own seeded choices, the page's widgets as drawn."""

    def __init__(self, index: int, base_url: str, seed: int, result: LoadResult, progress):
        self.index, self.base_url, self.result, self.progress = index, base_url, result, progress
        self.rng = random.Random(seed * 1_000 + index)  # as the browser's person, so one seed plays the same walk
        self.actions_done = 0
        self.websocket: ClientConnection | None = None
        self.widgets: dict[str, Widget] = {}  # the last finished run's widgets, by id, in the page's order
        self.states: dict[str, WidgetState] = {}  # the values the browser would hold and send, by widget id
        self.pages: dict[str, tuple[str, str]] = {}  # page script hash -> (title, URL path)
        self.page_hash = ""
        self.query_string = ""
        self.cache: dict[str, list] = {}  # message hash -> [message, the run it was last used in]
        self.max_cached_age = MAX_CACHED_MESSAGE_AGE
        self.runs_started = 0
        self.runs_finished = 0
        # how many runs had started when the last finished one ended: a finish counts for a request only if its
        # run started after the request was sent
        self.started_before_last_finish = 0
        self.closed = False
        self.problems: list[str] = []  # the last finished run's exceptions and error-id messages
        self.drawn: tuple[str, ...] = ()  # the last finished run's page: its page and its deltas' hashes, in order
        self._run_widgets: dict[str, Widget] = {}
        self._run_problems: list[str] = []
        self._run_hashes: list[str] = []
        self._run_ended = asyncio.Event()
        self._reader: asyncio.Task | None = None

    # --- the connection ---------------------------------------------------------------------------------

    async def open(self) -> None:
        url = self.base_url.replace("http://", "ws://", 1) + STREAM_PATH
        try:
            # the Origin a page of the app would send; no pings, as a browser sends none
            self.websocket = await connect(url, origin=Origin(self.base_url), subprotocols=[Subprotocol("streamlit")],
                                           max_size=None, ping_interval=None)
        except (OSError, InvalidHandshake) as error:
            raise LoadError(f"person {self.index} could not open {url}: {error}") from error
        self._reader = asyncio.create_task(self._read())
        await self.act(OPEN_THE_APP, Rerun(page_hash="", states=[], query_string="", what="open the app"))

    async def close(self) -> None:
        if self.websocket is not None:
            await self.websocket.close()
        if self._reader is not None:
            await self._reader

    async def _read(self) -> None:
        assert self.websocket is not None  # open() starts the reader once connected
        try:
            async for frame in self.websocket:
                if isinstance(frame, bytes):
                    self._receive(ForwardMsg.FromString(frame))
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            self._run_ended.set()

    def _receive(self, message: ForwardMsg) -> None:
        kind = message.WhichOneof("type")
        if kind == "ref_hash":  # a large message this person said it kept: use the kept one, at the new place
            kept = self.cache.get(message.ref_hash)
            if kept is None:
                return
            kept[1] = self.runs_finished
            resolved = ForwardMsg()
            resolved.CopyFrom(kept[0])
            resolved.metadata.CopyFrom(message.metadata)
            message, kind = resolved, resolved.WhichOneof("type")
        elif message.metadata.cacheable and message.hash:
            self.cache[message.hash] = [message, self.runs_finished]
        if kind == "new_session":  # the server sends it as each run starts
            self.runs_started += 1
            self._run_widgets, self._run_problems, self._run_hashes = {}, [], []
            self.max_cached_age = message.new_session.config.max_cached_message_age or MAX_CACHED_MESSAGE_AGE
        elif kind == "navigation":
            self.pages = {page.page_script_hash: (page.page_name, page.url_pathname)
                          for page in message.navigation.app_pages}
            self.page_hash = message.navigation.page_script_hash
        elif kind == "page_info_changed":
            self.query_string = message.page_info_changed.query_string
        elif kind == "delta":
            element = message.delta.new_element if message.delta.WhichOneof("type") == "new_element" else None
            # the server hashes what it draws; a download button's link is new at every run, whatever it holds
            if element is None or element.WhichOneof("type") not in NEW_AT_EVERY_RUN:
                self._run_hashes.append(message.hash)
            if element is not None:
                self._element(element, list(message.metadata.delta_path))
        elif kind == "script_finished" and message.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
            self._finished(message.script_finished)

    def _element(self, element, path: list[int]) -> None:
        kind = element.WhichOneof("type")
        if kind == "exception":
            self._run_problems.append(f"{element.exception.type}: {element.exception.message}")
        elif kind in ("alert", "markdown") and ERROR_ID_TEXT in getattr(element, kind).body:
            self._run_problems.append(getattr(element, kind).body)
        elif kind in WIDGET_KINDS and not getattr(element, kind).form_id:
            proto = getattr(element, kind)
            self._run_widgets[proto.id] = Widget(kind, proto, bool(path) and path[0] == SIDEBAR)
            if proto.set_value or (proto.id not in self.states and kind in SENT_FROM_FIRST_DRAWING):
                if (state := drawn_state(kind, proto)) is not None:
                    self.states[proto.id] = state

    def _finished(self, status: int) -> None:
        if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
            self._run_problems.append("the app's script did not compile")
        # as the browser: a widget the run did not draw is gone, and so is the value it held
        self.widgets, self.problems = self._run_widgets, self._run_problems
        self.drawn = (self.page_hash, self.query_string, *self._run_hashes)
        self.states = {widget_id: state for widget_id, state in self.states.items() if widget_id in self.widgets}
        self.runs_finished += 1
        self.started_before_last_finish = self.runs_started
        self.cache = {h: kept for h, kept in self.cache.items() if self.runs_finished - kept[1] <= self.max_cached_age}
        self._run_ended.set()

    async def _send(self, rerun: Rerun) -> None:
        client_state = ClientState(query_string=rerun.query_string, page_script_hash=rerun.page_hash)
        client_state.widget_states.SetInParent()
        client_state.widget_states.widgets.extend(rerun.states)
        client_state.cached_message_hashes.extend(self.cache)
        path = self.pages.get(rerun.page_hash, ("", ""))[1]
        client_state.context_info.CopyFrom(ContextInfo(url=f"{self.base_url}/{path}", **CONTEXT))
        message = BackMsg()
        message.rerun_script.CopyFrom(client_state)
        assert self.websocket is not None  # a person sends only after open() connected
        await self.websocket.send(message.SerializeToString())

    # --- the walk -----------------------------------------------------------------------------------------

    async def walk(self, deadline: float, actions_each: int | None = None) -> None:
        actions = {"open a page": self._open_page, "change a sidebar filter": self._change_filter,
                   "change a page widget": self._change_widget}
        async for kind in next_actions(self.rng, deadline, actions_each, lambda: self.actions_done):
            if self.closed:
                return
            rerun = actions[kind](kind)
            if rerun is not None:
                await self.act(kind, rerun)

    async def act(self, kind: str, rerun: Rerun) -> None:
        """Send the rerun and wait for the run's end; record its latency and what the run showed."""
        started, drawn_before = self.runs_started, self.drawn
        self._run_ended.clear()
        began = time.monotonic()
        await self._send(rerun)
        try:
            async with asyncio.timeout(RUN_END_TIMEOUT_S):
                while self.started_before_last_finish <= started and not self.closed:
                    await self._run_ended.wait()
                    self._run_ended.clear()
        except TimeoutError:
            pass
        seconds = time.monotonic() - began
        if self.started_before_last_finish <= started:
            self.result.timed_out += 1
            reason = "its connection closed" if self.closed else f"it did not finish within {RUN_END_TIMEOUT_S:.0f} s"
            self.progress(f"person {self.index}: '{kind}' timed out: {reason}")
            return
        page = self.pages.get(self.page_hash, ("?", ""))[0]
        if kind == OPEN_THE_APP:
            self.result.first_renders.append(seconds)
        else:
            self.result.record_action(kind, seconds, f"{page} {rerun.what}", page)
            self.result.server_answers.append(seconds)
            self.actions_done += 1
        if kind in ALWAYS_SHOWN and self.drawn == drawn_before:
            # counted by this client only (the browser's load leaves it None); run_websocket_load starts it at 0
            self.result.ignored_changes = (self.result.ignored_changes or 0) + 1
            self.progress(f"person {self.index}: the page after '{rerun.what}' on {page} was drawn as before")
        if self.problems:
            self.result.record_exception(kind, self.problems[0])
            self.progress(f"person {self.index}: a page exception after '{kind}': {self.problems[0][:120]!r}")

    # the actions: each returns the rerun it asks for, or None when the page has nothing of its kind to change
    def _open_page(self, kind: str) -> Rerun | None:
        if not self.pages:
            return None
        pages = list(self.pages)
        return self.page_request(self.rng.choice([h for h in pages if h != self.page_hash] or pages))

    def page_request(self, page_hash: str) -> Rerun:
        """The rerun that opens the page of this script hash, as a click on its link in the sidebar asks for it."""
        # the browser keeps only the sidebar's widget values, and drops the query string, on opening a page
        self.states = {i: s for i, s in self.states.items() if i in self.widgets and self.widgets[i].in_sidebar}
        self.query_string = ""
        return Rerun(page_hash, list(self.states.values()), "", f"open {self.pages[page_hash][0]}")

    def _change_filter(self, kind: str) -> Rerun | None:
        boxes = [w for w in self.widgets.values() if w.in_sidebar and w.kind in ("selectbox", "multiselect")]
        if not boxes:
            return None
        return self.change_request(kind, boxes[self.rng.randrange(len(boxes))])

    def _change_widget(self, kind: str) -> Rerun | None:
        candidates = [w for w in self.widgets.values() if not w.in_sidebar and w.kind in CHANGED_KINDS]
        if not candidates:
            return None
        return self.change_request(kind, self.rng.choice(candidates))

    def change_request(self, kind: str, widget: Widget) -> Rerun | None:
        """The rerun a person's change of the widget asks for, or None when it cannot take another value."""
        changed = changed_state(widget, self.states.get(widget.proto.id), self.rng)
        if changed is None:
            if widget.kind == "slider" and not widget.proto.disabled:
                self.result.record_no_run(kind)  # the browser's key press at a slider's end starts no run either
            return None
        state, what = changed
        self.states = {**self.states, widget.proto.id: state}
        return Rerun(self.page_hash, list(self.states.values()), self.query_string, what)


async def _drive(base_url: str, users: int, seconds: float, seed: int, result: LoadResult, progress,
                 actions_each: int | None) -> None:
    people = [SocketPerson(index, base_url, seed, result, progress) for index in range(users)]
    try:
        # everyone arrives within the first few seconds, as a team opening a shared link does
        await asyncio.gather(*(person.open() for person in people))
        await walk_together(people, seconds, actions_each, result, progress, how=" over websockets")
    finally:
        await asyncio.gather(*(person.close() for person in people), return_exceptions=True)


def run_websocket_load(db_path: Path, users: int, seconds: float, log_path: Path, seed: int = 7,
                       progress: Callable[[str], None] = lambda text: None,
                       actions_each: int | None = None) -> LoadResult:
    """Start the app on db_path, drive `users` websocket people for `seconds` (or, with `actions_each`, until each
    has done that many actions, `seconds` being a cap), stop the app; return the figures."""
    result = LoadResult(users=users, seconds=seconds, actions_each=actions_each, client="websocket",
                        ignored_changes=0)
    return measure_load(db_path, log_path, result,
                        lambda base_url: _drive(base_url, users, seconds, seed, result, progress, actions_each),
                        progress)
