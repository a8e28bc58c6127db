"""A rebuild of the file the app reads shows up without a restart: in new sessions and at an open session's rerun.

DuckDB keeps one database instance per path per process, so a server that opened the previous file
could go on reading it after the rebuild's atomic rename. Each test opens the app on a copy of the
small demo, replaces the file with a build of other data (by the CLI, by the Data page's upload path,
or while the app is rerunning) and checks the build id and the Overview's tiles against the file.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from conftest import page_failures
from dashboard.rebuild import rebuild_from_uploads
from pipelines.cli import main as retention
from pipelines.demo import generate_demo

APP = Path(__file__).resolve().parents[1] / "streamlit_app.py"
RUN_TIMEOUT = 60


@pytest.fixture(scope="module")
def other_demo(tmp_path_factory):
    """Demo files unlike the small demo's (another seed and size), for the rebuild to swap in."""
    return generate_demo(tmp_path_factory.mktemp("other_demo"), n_accounts=300, seed=23)


@pytest.fixture
def live_db(small_demo_database, tmp_path, monkeypatch) -> Path:
    """A copy of the small demo's database that the app reads and the test rebuilds over."""
    path = tmp_path / "live.duckdb"
    shutil.copyfile(small_demo_database[0], path)
    monkeypatch.setenv("RETENTION_DB", str(path))
    return path


def file_state(path: Path) -> tuple[str, str]:
    """(build id, the Overview's active-accounts tile) read straight from the file.

    Through an in-memory instance that attaches the file: a plain connect to the path would join the
    instance the app may hold open, and so read the file from before the rename.
    """
    with duckdb.connect() as con:
        con.execute("attach $path as f (read_only)", {"path": str(path)})
        build_id, active = con.execute(
            """
            select b.build_id, count(*)
            from f.account_survival as a, f.build_info as b
            where a.signup_date <= b.as_of_date and (a.churn_date is null or a.churn_date > b.as_of_date)
            group by b.build_id
            """).fetchone()
    return build_id, f"{active:,}"


def open_page(page: str = "overview") -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    if page != "overview":
        at.switch_page(f"dashboard/app_pages/{page}.py")
    at.run(timeout=RUN_TIMEOUT)
    assert not page_failures(at), page_failures(at)
    return at


def active_tile(at: AppTest) -> str:
    return next(m.value for m in at.metric if m.label == "Active accounts")


def data_page_build_id(at: AppTest) -> str:
    """The Data page's caption starts 'Build <first 8 characters of the build id> · ...'."""
    caption = next(c.value for c in at.caption if c.value.startswith("Build "))
    return caption.split()[1]


def assert_shows(at: AppTest, state: tuple[str, str]) -> None:
    assert not page_failures(at), page_failures(at)
    assert active_tile(at) == state[1]


def test_cli_rebuild_reaches_new_sessions_and_reruns_of_open_ones(live_db, other_demo):
    before = file_state(live_db)
    overview, data_page = open_page("overview"), open_page("data_page")
    assert active_tile(overview) == before[1]
    assert data_page_build_id(data_page) == before[0][:8]

    code = retention(["build", "--accounts", str(other_demo.accounts), "--interactions", str(other_demo.interactions),
                      "--mrr-history", str(other_demo.mrr_history), "--db", str(live_db)])

    after = file_state(live_db)
    assert code == 0 and after[0] != before[0] and after[1] != before[1]
    assert_shows(open_page("overview"), after)                  # a new session
    assert_shows(overview.run(timeout=RUN_TIMEOUT), after)      # the open session's next rerun
    data_page.run(timeout=RUN_TIMEOUT)
    assert data_page_build_id(data_page) == after[0][:8]
    assert data_page_build_id(open_page("data_page")) == after[0][:8]


def test_upload_rebuild_reaches_new_sessions_and_reruns_of_open_ones(live_db, other_demo):
    before = file_state(live_db)
    data_page = open_page("data_page")
    overview = open_page("overview")
    assert active_tile(overview) == before[1]

    # what the Data page's button calls with the uploaded files' bytes
    result = rebuild_from_uploads({"accounts": Path(other_demo.accounts).read_bytes(),
                                   "interactions": Path(other_demo.interactions).read_bytes(),
                                   "mrr_history": Path(other_demo.mrr_history).read_bytes()}, live_db)

    after = file_state(live_db)
    assert result.build_id == after[0] != before[0]
    data_page.run(timeout=RUN_TIMEOUT)
    assert not page_failures(data_page)
    assert data_page_build_id(data_page) == after[0][:8]
    assert_shows(overview.run(timeout=RUN_TIMEOUT), after)
    assert_shows(open_page("overview"), after)


def test_reruns_during_a_rebuild_keep_rendering_old_then_new(live_db, other_demo):
    before = file_state(live_db)
    overview = open_page("overview")
    failures: list[BaseException] = []

    def build() -> None:
        try:
            retention(["build", "--accounts", str(other_demo.accounts), "--interactions", str(other_demo.interactions),
                       "--db", str(live_db)])
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            failures.append(error)

    builder = threading.Thread(target=build)
    builder.start()
    shown = []
    while builder.is_alive():
        overview.run(timeout=RUN_TIMEOUT)
        assert not page_failures(overview), page_failures(overview)
        shown.append(active_tile(overview))
    builder.join()

    after = file_state(live_db)
    assert not failures and after[0] != before[0]
    assert shown and set(shown) <= {before[1], after[1]}
    # every render during the build read one build or the other, and the old one until the swap
    assert shown == sorted(shown, key=lambda tile: tile == after[1])
    assert_shows(overview.run(timeout=RUN_TIMEOUT), after)
