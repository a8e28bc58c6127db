"""The app in a real browser: `streamlit run` on the small demo database, driven by Playwright.

Checks what only a browser shows: the pages load from the server alone (no CDN, no outside
request), the plotly charts draw, and the sidebar filter changes the numbers. A full-page
screenshot of each page lands in test-artifacts/screenshots/ for a person to look at, and the
render times in test-artifacts/browser_render_seconds.json.

Needs /usr/bin/chromium and the playwright package (not `playwright install`: the system
Chromium is used). Without them the tests skip locally and fail under CI (env var CI set).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pytest

from benchmarks.load import (CHROMIUM, CHROMIUM_ARGS, LoadError, app_argv, free_port, stop_app, tracebacks,
                             wait_until_healthy)
from pipelines.build import build_database
from pipelines.demo import generate_demo

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# The first render of a page reads the database and may fit a model; generous for a slow CI machine.
RENDER_MS = 60_000

# url path -> (title, a text the page must show, whether it draws a plotly chart)
PAGES = {
    "overview": ("", "Overview", "Active accounts", True),
    "survival": ("survival", "Survival explorer", "Split by", True),
    "drivers": ("drivers", "Service drivers", "Churn by quartile of a factor", True),
    # placeholders being filled in: only their title is checked
    "investment": ("investment", "Investment case", None, False),
    "evaluate": ("evaluate", "Evaluate a change", "Did the service move?", True),
    "at_risk": ("at_risk", "At-risk accounts", None, False),
    "data_page": ("data_page", "Data", "Load report", False),
}


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"browser test cannot run under CI: {reason}")
    pytest.skip(reason)


try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = expect = None
    PlaywrightTimeout = TimeoutError


def _wait_until_healthy(base_url: str, server: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    try:
        wait_until_healthy(base_url, server, log, seconds)
    except LoadError as error:
        pytest.fail(str(error))


def require_browser() -> None:
    """Skip (fail under CI) when playwright or the system Chromium is missing."""
    if sync_playwright is None:
        _unavailable("the playwright package is not installed (pip install playwright)")
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")


@contextmanager
def serving(argv: list[str], base_url: str, log: Path, env: dict | None = None):
    """Run a server command from the repository root until it answers at base_url; stop it on exit, and fail if its
    log holds a traceback (a page that failed behind a polite message, or a thread that died)."""
    with log.open("wb") as out:
        server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_healthy(base_url, server, log)
        yield base_url
    finally:
        stop_app(server)
    # reached when what ran on the server passed: it also fails if the server logged any traceback meanwhile
    found = tracebacks(log.read_text(errors="replace"))
    if found:
        pytest.fail(f"the server's log ({log}) holds {len(found)} traceback(s): {found}")


@contextmanager
def streamlit_server(db_path: Path, log: Path):
    """`streamlit run streamlit_app.py` on db_path; yields the base URL and stops the server on exit."""
    require_browser()
    port = free_port()
    with serving(app_argv(port), f"http://127.0.0.1:{port}", log, env={**os.environ, "RETENTION_DB": str(db_path)}) as url:
        yield url


@contextmanager
def chromium():
    """Debian's chromium driven by playwright (not a browser playwright downloads)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def app_url(small_demo_database, tmp_path_factory):
    """The base URL of the app on the small demo; the server stops after the module."""
    with streamlit_server(small_demo_database[0], tmp_path_factory.mktemp("streamlit") / "server.log") as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser(app_url):
    with chromium() as browser:
        yield browser


class Tab:
    """One browser tab (its own Streamlit session, so filters start empty), with every request it made."""

    def __init__(self, context, base_url: str):
        self.base_url = base_url
        self.page = context.new_page()
        self.requests: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))

    def outside_requests(self) -> list[str]:
        return [url for url in self.requests
                if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).hostname not in LOCAL_HOSTS]


@pytest.fixture(scope="module")
def context(browser):
    """One context for the module: tabs share the browser cache, as a user's tabs would."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def tab(context, app_url):
    tab = Tab(context, app_url)
    try:
        yield tab
    finally:
        tab.page.close()


@pytest.fixture(scope="module")
def render_seconds():
    """{page: {"first": s, "rerun": s}}, written beside the screenshots when the module ends."""
    seconds: dict[str, dict[str, float]] = {}
    yield seconds
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "browser_render_seconds.json").write_text(json.dumps(seconds, indent=2) + "\n", encoding="utf-8")


def wait_rendered(page, title: str, text: str | None, has_chart: bool) -> None:
    """The page's title, key text and charts are drawn and its script has finished."""
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=RENDER_MS)
    if text:
        expect(main.get_by_text(text, exact=True).first).to_be_visible(timeout=RENDER_MS)
    if has_chart:
        expect(main.locator('[data-testid="stPlotlyChart"] .js-plotly-plot svg.main-svg').first).to_be_visible(
            timeout=RENDER_MS)
    expect(page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]')).to_have_count(
        1, timeout=RENDER_MS)


def full_page_screenshot(page, name: str) -> Path:
    """Streamlit scrolls inside its main section, so the viewport is grown to the content before the shot."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    viewport = page.viewport_size
    height = max(page.get_by_test_id(part).evaluate("element => element.scrollHeight")
                 for part in ("stMain", "stSidebarContent"))
    page.set_viewport_size({"width": viewport["width"], "height": max(viewport["height"], height)})
    page.wait_for_timeout(500)  # let plotly redraw at the new size; the picture is for people, not assertions
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(viewport)
    return path


def active_accounts(db_path: Path, plan: str | None = None) -> str:
    """Accounts signed up by as-of and not churned by then, as the Overview's tile writes it."""
    with duckdb.connect() as con:  # attached, so a rebuilt file is read even while this process holds the old one
        con.execute("attach $path as f (read_only)", {"path": str(db_path)})
        (count,) = con.execute(
            """
            select count(*) from f.account_survival, f.build_info
            where signup_date <= as_of_date and (churn_date is null or churn_date > as_of_date)
              and ($plan is null or plan = $plan)
            """, {"plan": plan}).fetchone()
    return f"{count:,}"


def metric_value(page, label: str):
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


@pytest.mark.parametrize("name", PAGES)
def test_browser_page_renders_from_the_server_alone(tab, render_seconds, name):
    url_path, title, text, has_chart = PAGES[name]
    page = tab.page

    started = time.perf_counter()
    page.goto(f"{tab.base_url}/{url_path}")
    wait_rendered(page, title, text, has_chart)
    first = time.perf_counter() - started
    started = time.perf_counter()
    page.reload()  # a new session on a warm server: the cached rerun a second visitor gets
    wait_rendered(page, title, text, has_chart)
    render_seconds[name] = {"first": round(first, 2), "rerun": round(time.perf_counter() - started, 2)}

    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stSidebarNavLink")).to_have_count(len(PAGES))
    if has_chart:
        expect(page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot svg.main-svg').first).to_be_visible()
    full_page_screenshot(page, name)
    assert tab.outside_requests() == []


def test_browser_plan_filter_changes_kpi_and_url(tab, small_demo_database):
    db_path = small_demo_database[0]
    page = tab.page
    page.goto(tab.base_url)
    wait_rendered(page, "Overview", "Active accounts", True)
    everyone, starter = active_accounts(db_path), active_accounts(db_path, plan="Starter")
    assert everyone != starter
    expect(metric_value(page, "Active accounts")).to_have_text(everyone)

    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("combobox", name="Plan", exact=True).click()
    page.get_by_role("option", name="Starter", exact=True).click()
    page.keyboard.press("Escape")  # a multiselect's list stays open for more values, over the page

    expect(metric_value(page, "Active accounts")).to_have_text(starter, timeout=RENDER_MS)
    expect(page).to_have_url(re.compile(r"[?&]filter=plan(=|%3D)Starter"))
    wait_rendered(page, "Overview", "Active accounts", True)
    full_page_screenshot(page, "overview_plan_starter")

    # the filter is global: the next page opened from the sidebar shows the same subset
    sidebar.get_by_role("link", name="Survival explorer").click()
    wait_rendered(page, "Survival explorer", "Split by", True)
    expect(page.get_by_test_id("stMain").get_by_text("Filters: Plan = Starter")).to_be_visible()
    assert tab.outside_requests() == []


def test_browser_shows_a_rebuild_without_a_restart(small_demo_database, context, tmp_path):
    """The server keeps running while the file is rebuilt from other data: a reload and an open tab's
    next rerun both show the new build's numbers."""
    live = tmp_path / "live.duckdb"
    shutil.copyfile(small_demo_database[0], live)
    other = generate_demo(tmp_path / "other", n_accounts=300, seed=23)
    with streamlit_server(live, tmp_path / "server.log") as base_url:
        reloaded, open_tab = Tab(context, base_url), Tab(context, base_url)
        for tab in (reloaded, open_tab):
            tab.page.goto(base_url)
            wait_rendered(tab.page, "Overview", "Active accounts", True)
        before = active_accounts(live)
        expect(metric_value(open_tab.page, "Active accounts")).to_have_text(before)

        build_database(other.accounts, other.interactions, live, mrr_history=other.mrr_history)

        after = active_accounts(live)
        assert after != before
        reloaded.page.reload()
        expect(metric_value(reloaded.page, "Active accounts")).to_have_text(after, timeout=RENDER_MS)
        # the open tab reruns on its next interaction, here the cohort view's radio
        open_tab.page.get_by_test_id("stMain").get_by_text("revenue", exact=True).click()
        expect(metric_value(open_tab.page, "Active accounts")).to_have_text(after, timeout=RENDER_MS)
        wait_rendered(open_tab.page, "Overview", "Active accounts", True)
        expect(open_tab.page.get_by_test_id("stException")).to_have_count(0)
        for tab in (reloaded, open_tab):
            tab.page.close()
