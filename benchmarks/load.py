"""Many people on one server: `retention bench --users N` drives N simulated people in a real browser at once.

This module owns what every load test shares (the server's start and stop, the choice of a person's next action,
the figures and the CPU read-out) and the browser's people; benchmarks/ws_load.py plays the same people over
Streamlit's websocket protocol, without a browser, for counts where the browsers would take the machine.

The app is started as `make run` starts it (`streamlit run`, one BLAS thread), on a free port of 127.0.0.1, on a
build given by the caller. Each person is a context of its own in Debian's Chromium, driven by Playwright, so each
has its own Streamlit session, as people on their own machines have. A person opens the overview, then until the
time is up (or, when asked, until they have done a given number of things) thinks for 1 to 3 seconds and does one
thing, chosen at random from their own seeded generator: opens another page from the sidebar, changes a sidebar
filter, or changes a widget of the page (a select box, a radio, a toggle or a slider; never a button, an upload or a
form).

What is measured, per action (a person's first render of the app, which is not a click, is reported apart):
  action latency    from the click until Streamlit has finished the run it started, as the person sees it: the
                    browser has received the run's end and the page shows it is no longer running. On one machine
                    the browsers compete with the server for the CPU, so this includes the browsers' own work.
  server answer     from the rerun request the browser sent until the server's message that the run finished,
                    both read from the websocket's frames: the server's part, less the browsers' drawing.
And over the run: page exceptions (Streamlit's exception boxes and the app's own error-id messages, counted once per
action that showed them), tracebacks in the server's log, actions that started no run (a widget that was already at
the value chosen), actions whose run did not end within the time allowed, and the CPU the server and the whole
machine used (cores busy on average).

Nothing here prints: the bench command reports what `run_load` returns, and progress goes to `progress`.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Coroutine
from urllib.parse import urlsplit

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from dashboard.errors import ERROR_ID_TEXT

try:
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright
except ImportError:  # the test extra is not installed: run_load says what to install
    PlaywrightError = async_playwright = None  # type: ignore[assignment]  # None: run_load checks for it

if TYPE_CHECKING:
    from playwright.async_api import Page

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
THINK_SECONDS = (1.0, 3.0)
# how long a click waits for its element to be there and ready
CLICK_TIMEOUT_MS = 15_000
# a first render fits or reads models, and on a saturated machine an answer may take long: a run that has not
# ended by then counts as timed out (and the person goes on), it does not stop the test
RUN_END_TIMEOUT_S = 180.0
# how long a change may take to start a run before it counts as one that started none
RUN_START_WAIT_S = 10.0
SERVER_START_TIMEOUT_S = 120.0
TRACEBACK = "Traceback (most recent call last)"
# an action's kind -> its weight in a person's random choice
ACTION_WEIGHTS = {"open a page": 3, "change a sidebar filter": 2, "change a page widget": 4}
WIDGETS = ('[data-testid="stSelectbox"]', '[data-testid="stRadio"]', '[data-testid="stCheckbox"]',
           '[data-testid="stSlider"]')
OPEN_THE_APP = "open the app"
SLOWEST_KEPT = 8
NOT_RUNNING = '[data-testid="stApp"][data-test-script-state="notRunning"]'


class LoadError(RuntimeError):
    """The load test could not run: no browser, or the server did not start."""


@dataclass
class LoadResult:
    users: int
    seconds: float
    # when set, each person stops after this many actions that ended their run, and `seconds` is only a cap
    actions_each: int | None = None
    walked_seconds: float | None = None  # from when everyone had the app open until the last person stopped
    client: str = "browser"  # who played the people: "browser" (Chromium) or "websocket" (benchmarks/ws_load.py)
    actions: int = 0
    actions_by_kind: dict[str, int] = field(default_factory=dict)
    page_exceptions: int = 0
    exception_texts: list[str] = field(default_factory=list)
    log_tracebacks: int = 0
    log_traceback_texts: list[str] = field(default_factory=list)
    no_run: int = 0
    no_run_by_kind: dict[str, int] = field(default_factory=dict)
    timed_out: int = 0
    missed_clicks: int = 0
    # filter changes and page opens after which the server drew the page as before: the websocket client counts
    # them (benchmarks/ws_load.py), a browser cannot
    ignored_changes: int | None = None
    action_latencies: list[float] = field(default_factory=list)
    first_renders: list[float] = field(default_factory=list)
    slowest: list[tuple[float, str]] = field(default_factory=list)  # (seconds, page and what was done)
    latencies_by_page: dict[str, list[float]] = field(default_factory=dict)  # the page an action ended on
    server_answers: list[float] = field(default_factory=list)
    server_cpu_cores: float | None = None
    machine_cpu_cores: float | None = None

    def record_action(self, kind: str, seconds: float, where: str, page: str) -> None:
        """One action that ended its run: its latency, by page, and among the slowest if it is."""
        self.action_latencies.append(seconds)
        self.latencies_by_page.setdefault(page, []).append(seconds)
        self.slowest = sorted([*self.slowest, (round(seconds, 2), where)], reverse=True)[:SLOWEST_KEPT]
        self.actions += 1
        self.actions_by_kind[kind] = self.actions_by_kind.get(kind, 0) + 1

    def record_no_run(self, kind: str) -> None:
        """An action that started no run (a widget already at the value chosen)."""
        self.no_run += 1
        self.no_run_by_kind[kind] = self.no_run_by_kind.get(kind, 0) + 1

    def record_exception(self, kind: str, text: str) -> None:
        """An action after which the page showed an exception or the app's error-id message."""
        self.page_exceptions += 1
        self.exception_texts.append(f"{kind}: {text[:300]}")

    def failures(self) -> dict[str, object]:
        """What went wrong for the people, by name (empty when nothing did): what fails the command and the tests."""
        found = {"page exceptions": self.exception_texts, "log tracebacks": self.log_traceback_texts,
                 "runs timed out": self.timed_out, "changes the server ignored": self.ignored_changes}
        return {name: what for name, what in found.items() if what}

    def figure(self) -> dict:
        """The result as one JSON-ready figure (name load_users), with the latencies' p50, p95 and max."""
        return {
            "name": "load_users", "client": self.client, "users": self.users, "seconds": round(self.seconds, 1),
            "actions_each": self.actions_each,
            "walked_seconds": None if self.walked_seconds is None else round(self.walked_seconds, 1),
            "actions": self.actions,
            "actions_by_kind": self.actions_by_kind, "page_exceptions": self.page_exceptions,
            "log_tracebacks": self.log_tracebacks, "actions_without_run": self.no_run,
            "actions_without_run_by_kind": self.no_run_by_kind, "timed_out": self.timed_out,
            "missed_clicks": self.missed_clicks, "ignored_changes": self.ignored_changes,
            **_percentiles("action", self.action_latencies), **_percentiles("server_answer", self.server_answers),
            **_percentiles("first_render", self.first_renders),
            "server_cpu_cores": self.server_cpu_cores, "machine_cpu_cores": self.machine_cpu_cores,
            "slowest_actions": [f"{seconds:.2f} s: {where}" for seconds, where in self.slowest],
            "action_by_page": {page: _percentiles("action", values)
                               for page, values in sorted(self.latencies_by_page.items())},
            "exception_texts": self.exception_texts[:5], "log_traceback_texts": self.log_traceback_texts[:3],
        }


def _percentiles(prefix: str, values: list[float]) -> dict:
    if not values:
        return {f"{prefix}_p50_s": None, f"{prefix}_p95_s": None, f"{prefix}_max_s": None, f"{prefix}_n": 0}
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
    return {f"{prefix}_p50_s": round(cuts[49], 3), f"{prefix}_p95_s": round(cuts[94], 3),
            f"{prefix}_max_s": round(max(values), 3), f"{prefix}_n": len(values)}


def tracebacks(log_text: str) -> list[str]:
    """Each traceback in a server log, as its last line (the error) after the traceback's header."""
    found = []
    for block in log_text.split(TRACEBACK)[1:]:
        lines = [line for line in block.splitlines()[1:] if line.strip()]  # past the header's own line
        error = next((line for line in lines if not line.startswith((" ", "\t"))), "")
        found.append(error.strip()[:300])
    return found


# --- the server ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_argv(port: int) -> list[str]:
    """`streamlit run` of the app on 127.0.0.1:port, as `make run` starts it."""
    return [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"), "--server.port", str(port),
            "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]


def wait_until_healthy(base_url: str, server: subprocess.Popen, log_path: Path,
                       seconds: float = SERVER_START_TIMEOUT_S) -> None:
    """Return once the server at base_url answers its health check; LoadError if it exits or stays silent."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise LoadError(f"the app exited with {server.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise LoadError(f"the app did not answer within {seconds:.0f} s:\n{log_path.read_text(errors='replace')}")


def start_app(db_path: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    """Start the app on db_path with its log in log_path; return the process and its base URL once it answers."""
    port = free_port()
    env = {**os.environ, "RETENTION_DB": str(db_path), "OPENBLAS_NUM_THREADS": "1"}
    with log_path.open("wb") as out:
        server = subprocess.Popen(app_argv(port), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base_url, server, log_path)
    except LoadError:
        stop_app(server)
        raise
    return server, base_url


def stop_app(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float | None:
    """CPU seconds every core of the machine spent on anything but idling, so far (Linux /proc/stat)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except OSError:
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


# --- what a person does, whoever plays them -----------------------------------------------------------

async def next_actions(rng: random.Random, deadline: float, actions_each: int | None = None,
                       done: Callable[[], int] = lambda: 0):
    """A person's actions until the deadline or, with `actions_each`, until `done()` (the person's actions that ended
    their run) reaches it: each after 1 to 3 s of thought, its kind drawn by ACTION_WEIGHTS."""
    kinds, weights = list(ACTION_WEIGHTS), list(ACTION_WEIGHTS.values())
    while actions_each is None or done() < actions_each:
        await asyncio.sleep(rng.uniform(*THINK_SECONDS))
        if time.monotonic() >= deadline:
            return
        yield rng.choices(kinds, weights)[0]


async def walk_together(people: list, seconds: float, actions_each: int | None, result: LoadResult,
                        progress: Callable[[str], None], how: str = "") -> None:
    """Everyone walks at once (`person.walk(deadline, actions_each)`) for `seconds`, or until each has done
    `actions_each` actions with `seconds` as a cap; the walk's length goes to `result`."""
    until = f"{actions_each} actions each, at most {seconds:.0f} s" if actions_each else f"{seconds:.0f} s"
    progress(f"{len(people)} people have the app open{how}; walking for {until}")
    began = time.monotonic()
    await asyncio.gather(*(person.walk(began + seconds, actions_each) for person in people))
    result.walked_seconds = time.monotonic() - began


def pick_option(rng: random.Random, options: list[str], selected: set[int]) -> int | None:
    """The index of the option a person picks in a select box, or None when every option is already selected."""
    # back to "All" half the time a filter is set, so filters do not narrow the views for good
    if "All" in options and options.index("All") not in selected and rng.random() < 0.5:
        return options.index("All")
    choices = [i for i in range(len(options)) if i not in selected]
    return rng.choice(choices) if choices else None


# --- the people in a browser -------------------------------------------------------------------------

class Person:
    """One simulated person: a browser context of their own, their own seeded choices, their own figures."""

    def __init__(self, index: int, context, base_url: str, seed: int, result: LoadResult, progress):
        self.index, self.context, self.base_url, self.result, self.progress = index, context, base_url, result, progress
        self.rng = random.Random(seed * 1_000 + index)
        self.runs_finished = 0
        self.runs_started = 0
        self.actions_done = 0
        self._rerun_sent_at: float | None = None
        self.page: Page  # opened by open(), the first thing each person does

    # the websocket's frames: when a rerun was asked for, when a run started and ended
    def _watch(self, websocket) -> None:
        websocket.on("framesent", self._sent)
        websocket.on("framereceived", self._received)

    def _sent(self, payload) -> None:
        if isinstance(payload, (bytes, bytearray)):
            message = BackMsg.FromString(bytes(payload))
            if message.WhichOneof("type") == "rerun_script":
                self._rerun_sent_at = time.monotonic()

    def _received(self, payload) -> None:
        if not isinstance(payload, (bytes, bytearray)):
            return
        message = ForwardMsg.FromString(bytes(payload))
        kind = message.WhichOneof("type")
        if kind == "new_session":  # the server sends it as each run starts
            self.runs_started += 1
        elif kind == "script_finished":
            status = message.script_finished
            if status in (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY):
                if self._rerun_sent_at is not None:
                    self.result.server_answers.append(time.monotonic() - self._rerun_sent_at)
                    self._rerun_sent_at = None
            if status != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                self.runs_finished += 1

    async def open(self) -> None:
        self.page = await self.context.new_page()
        self.page.on("websocket", self._watch)
        await self._timed(OPEN_THE_APP, lambda: self.page.goto(self.base_url, wait_until="commit"))

    async def walk(self, deadline: float, actions_each: int | None = None) -> None:
        actions = {"open a page": self._open_page, "change a sidebar filter": self._change_filter,
                   "change a page widget": self._change_widget}
        async for kind in next_actions(self.rng, deadline, actions_each, lambda: self.actions_done):
            await self._timed(kind, actions[kind])

    async def _timed(self, kind: str, action: Callable) -> None:
        """Do `action` and wait for the run it starts to end; record its latency and what the page shows after."""
        finished, started = self.runs_finished, self.runs_started
        began = time.monotonic()
        try:
            done = await action()
        except PlaywrightError as error:  # the element moved or vanished as the page redrew: a miss, not a fault
            self.result.missed_clicks += 1
            self.progress(f"person {self.index}: '{kind}' missed its element ({str(error).splitlines()[0][:120]})")
            return
        if done is False:  # nothing of that kind on this page
            return
        where = f"{urlsplit(self.page.url).path or '/'} {done if isinstance(done, str) else kind}"
        # from when the click has landed: on a saturated machine the click itself can take seconds
        limit = time.monotonic() + (RUN_END_TIMEOUT_S if kind == OPEN_THE_APP else RUN_START_WAIT_S)
        while self.runs_finished == finished and self.runs_started == started and time.monotonic() < limit:
            await asyncio.sleep(0.02)
        if self.runs_finished == finished and self.runs_started == started:
            self.result.record_no_run(kind)
            return
        limit = began + RUN_END_TIMEOUT_S
        while time.monotonic() < limit:
            if self.runs_finished > finished and await self.page.locator(NOT_RUNNING).count() == 1:
                break
            await asyncio.sleep(0.02)
        else:
            self.result.timed_out += 1
            self.progress(f"person {self.index}: {kind} did not finish within {RUN_END_TIMEOUT_S:.0f} s")
            return
        if kind == OPEN_THE_APP:  # not a click: a first render, reported on its own
            self.result.first_renders.append(time.monotonic() - began)
        else:
            self.result.record_action(kind, time.monotonic() - began, where, urlsplit(self.page.url).path or "/")
            self.actions_done += 1
        await self._count_exceptions(kind)

    async def _count_exceptions(self, kind: str) -> None:
        main = self.page.get_by_test_id("stApp")
        shown = await main.locator('[data-testid="stException"]').all_inner_texts()
        shown += [text for text in await main.locator('[data-testid="stAlert"]').all_inner_texts()
                  if ERROR_ID_TEXT in text]
        if shown:
            self.result.record_exception(kind, shown[0])
            self.progress(f"person {self.index}: a page exception after '{kind}': {shown[0][:120]!r}")

    # the actions: each returns False when the page has nothing of its kind
    async def _open_page(self):
        links = self.page.get_by_test_id("stSidebarNavLink")
        count = await links.count()
        if count == 0:
            return False
        current = [i for i in range(count) if await links.nth(i).get_attribute("aria-current") == "page"]
        choices = [i for i in range(count) if i not in current] or list(range(count))
        link = links.nth(self.rng.choice(choices))
        name = (await link.inner_text()).strip()
        await link.click()
        return f"open {name}"

    async def _change_filter(self):
        sidebar = self.page.get_by_test_id("stSidebar")
        boxes = sidebar.get_by_test_id("stSelectbox").or_(sidebar.get_by_test_id("stMultiSelect"))
        return await self._choose_option(boxes)

    async def _change_widget(self):
        main = self.page.get_by_test_id("stMain")
        candidates = []
        for selector in WIDGETS:
            # a person changes what they can see: not a widget inside a closed expander
            found = main.locator(f"{selector}:visible:not([data-testid='stForm'] *)")
            candidates += [(selector, found.nth(i)) for i in range(await found.count())]
        if not candidates:
            return False
        selector, widget = self.rng.choice(candidates)
        if "stSelectbox" in selector:
            return await self._choose_option(widget)
        if "stRadio" in selector:
            options = widget.locator("label:has(input:not(:checked))")
            n = await options.count()
            if n == 0:
                return False
            option = options.nth(self.rng.randrange(n))
            name = (await option.inner_text()).strip()
            await option.click()
            return f"radio: {name[:40]}"
        elif "stCheckbox" in selector:
            if await widget.locator("input[disabled]").count():
                return False
            label = widget.locator("label").first
            name = (await label.inner_text()).strip()
            await label.click()
            return f"toggle: {name[:40]}"
        else:
            thumb = widget.get_by_role("slider").first
            await thumb.focus()
            await thumb.press(self.rng.choice(["ArrowLeft", "ArrowRight"]))
            return "slider"

    async def _choose_option(self, boxes):
        n = await boxes.count()
        if n == 0:
            return False
        box = boxes.nth(self.rng.randrange(n))
        await box.get_by_role("combobox").click()
        options = self.page.get_by_role("option")
        try:
            await options.first.wait_for(timeout=5_000)
        except Exception:  # noqa: BLE001 - the list did not open (the page moved on): no action
            await self.page.keyboard.press("Escape")
            return False
        texts = await options.all_inner_texts()
        selected = {i for i in range(len(texts)) if await options.nth(i).get_attribute("aria-selected") == "true"}
        choice = pick_option(self.rng, texts, selected)
        if choice is None:
            await self.page.keyboard.press("Escape")
            return False
        await options.nth(choice).click()
        if await options.count():  # a multiselect's list stays open over the page after a pick
            await self.page.keyboard.press("Escape")
        return f"select: {texts[choice][:40]}"


async def _drive(base_url: str, users: int, seconds: float, seed: int, result: LoadResult, progress,
                 actions_each: int | None) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            people = []
            for index in range(users):
                context = await browser.new_context(viewport={"width": 1400, "height": 900})
                context.set_default_timeout(CLICK_TIMEOUT_MS)
                people.append(Person(index, context, base_url, seed, result, progress))
            # everyone arrives within the first few seconds, as a team opening a shared link does
            await asyncio.gather(*(person.open() for person in people))
            await walk_together(people, seconds, actions_each, result, progress)
        finally:
            await browser.close()


def run_load(db_path: Path, users: int, seconds: float, log_path: Path, seed: int = 7,
             progress: Callable[[str], None] = lambda text: None, actions_each: int | None = None) -> LoadResult:
    """Start the app on db_path, drive `users` people in Chromium for `seconds`, stop the app; return the figures.

    With `actions_each`, each person stops once that many of their actions have ended their run, and `seconds` is
    a cap: what the people do then no longer depends on how fast the machine is."""
    if not CHROMIUM.exists():
        raise LoadError(f"{CHROMIUM} is missing (apt-get install chromium)")
    if async_playwright is None:
        raise LoadError("the playwright package is not installed (pip install -e '.[test]')")
    result = LoadResult(users=users, seconds=seconds, actions_each=actions_each, client="browser")
    return measure_load(db_path, log_path, result,
                        lambda base_url: _drive(base_url, users, seconds, seed, result, progress, actions_each),
                        progress)


def measure_load(db_path: Path, log_path: Path, result: LoadResult, drive: Callable[[str], Coroutine[Any, Any, None]],
                 progress: Callable[[str], None]) -> LoadResult:
    """Start the app on db_path, run `drive(base_url)` (the people, filling `result`), stop the app; add the
    cores the server and the machine kept busy meanwhile and the tracebacks of the server's log to `result`."""
    server, base_url = start_app(db_path, log_path)
    progress(f"the app is up at {base_url} (log: {log_path})")
    try:
        server_cpu, machine_busy, began = _process_cpu_seconds(server.pid), _machine_busy_seconds(), time.monotonic()
        asyncio.run(drive(base_url))
        wall = time.monotonic() - began
        server_after, machine_after = _process_cpu_seconds(server.pid), _machine_busy_seconds()
        if server_cpu is not None and server_after is not None:
            result.server_cpu_cores = round((server_after - server_cpu) / wall, 2)
        if machine_busy is not None and machine_after is not None:
            result.machine_cpu_cores = round((machine_after - machine_busy) / wall, 2)
    finally:
        stop_app(server)
    found = tracebacks(log_path.read_text(errors="replace"))
    result.log_tracebacks, result.log_traceback_texts = len(found), found
    return result


def load_markdown(figures: list[dict]) -> str:
    """A table of load runs, one row per number of people."""
    lines = ["| people | client | actions | page exceptions | log tracebacks | action p50 / p95 / max (s) | "
             "server answer p50 / p95 / max (s) | server / machine cores busy |",
             "|---|---|---|---|---|---|---|---|"]
    for f in figures:
        lines.append(
            f"| {f['users']} | {f.get('client', 'browser')} | {f['actions']} | {f['page_exceptions']} | "
            f"{f['log_tracebacks']} | "
            f"{_triple(f, 'action')} | {_triple(f, 'server_answer')} | "
            f"{f['server_cpu_cores']} / {f['machine_cpu_cores']} |")
    return "\n".join(lines)


def _triple(figure: dict, prefix: str) -> str:
    values = [figure.get(f"{prefix}_{p}_s") for p in ("p50", "p95", "max")]
    return " / ".join("–" if v is None else f"{v:.2f}" for v in values)


