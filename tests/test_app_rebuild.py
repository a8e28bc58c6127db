"""A rebuild of the file the app reads shows up without a restart: in new sessions and at an open session's rerun.

DuckDB keeps one database instance per path per process, so a server that opened the previous file
could go on reading it after the rebuild's atomic rename. Each test opens the app on a copy of the
small demo, replaces the file with a build of other data (by the CLI, by the Data page's upload path,
or while the app is rerunning) and checks the build id and the Overview's tiles against the file.
The Data page's own upload is driven through its uploaders and button: what it says was built, why a
build failed, and whether the demo's planted truths still apply.
"""

from __future__ import annotations

import re
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


# --- the Data page's own upload: what it says was built, what it says went wrong, the demo's truths ----------------

PLANTED_HEADING = "Demo data: planted effects beside the recovered ones"


def upload_and_build(at: AppTest, files: dict[str, tuple[str, bytes]]) -> AppTest:
    """Put (name, bytes) into the Data page's uploaders by source and press its build button."""
    keys = {"accounts": "up_accounts", "interactions": "up_interactions", "mrr_history": "up_mrr"}
    for source, (name, content) in files.items():
        at.file_uploader(key=keys[source]).set_value((name, content, "text/csv"))
    at.run(timeout=RUN_TIMEOUT)
    next(b for b in at.button if b.label == "Build the database").click()
    at.run(timeout=RUN_TIMEOUT * 2)
    assert not page_failures(at), page_failures(at)
    return at


def demo_files(demo, prefix: str = "") -> dict[str, tuple[str, bytes]]:
    return {source: (f"{prefix}{source}.csv", Path(getattr(demo, source)).read_bytes())
            for source in ("accounts", "interactions", "mrr_history")}


def inputs_shown(at: AppTest) -> dict[str, str]:
    """The Data page's Inputs table: input -> the file it names."""
    table = next(d.value for d in at.dataframe if "file" in d.value.columns)
    return dict(zip(table["input"], table["file"]))


def test_upload_on_the_data_page_names_the_files_and_what_was_built(live_db, other_demo):
    at = upload_and_build(open_page("data_page"), demo_files(other_demo, prefix="acme "))

    build_id = file_state(live_db)[0]
    built = [s.value for s in at.success if s.value.startswith("Built")]
    # the names as they are, not read as Markdown (the underscore would start italics)
    said = (f"Built the database from acme accounts.csv, acme interactions.csv and acme mrr\\_history.csv: "
            f"{other_demo.n_accounts:,} accounts and {other_demo.n_interactions:,} tickets, as-of "
            f"{other_demo.as_of:%Y-%m-%d} (build {build_id[:8]}, ")
    assert len(built) == 1 and re.fullmatch(re.escape(said) + r"\d+\.\d s\)\. Every page now reads it\.", built[0])
    assert inputs_shown(at) == {"accounts": "acme accounts.csv", "interactions": "acme interactions.csv",
                                "mrr history": "acme mrr_history.csv"}
    # another data set's files are not the demo this database was: no planted truths are claimed for them
    assert PLANTED_HEADING not in [h.value for h in at.subheader]


def test_upload_of_the_demos_own_files_keeps_its_planted_truths(live_db, small_demo_database):
    demo = small_demo_database[1]
    before = file_state(live_db)
    at = open_page("data_page")
    assert PLANTED_HEADING in [h.value for h in at.subheader]

    at = upload_and_build(at, demo_files(demo))

    assert file_state(live_db)[0] != before[0]  # a new build, from the uploaded copies
    assert any(s.value.startswith("Built the database from accounts.csv") for s in at.success)
    assert PLANTED_HEADING in [h.value for h in at.subheader]
    planted = next(d.value for d in at.dataframe if "planted hazard ratio" in d.value.columns)
    assert planted.set_index("factor").loc["first response time", "planted hazard ratio"] == 1.25
    # and a new session after a second upload of the same files still finds them
    upload_and_build(open_page("data_page"), demo_files(demo))
    assert PLANTED_HEADING in [h.value for h in open_page("data_page").subheader]


def test_failed_upload_on_the_data_page_shows_the_reason_open_with_file_row_and_column(live_db, small_demo_database):
    before = file_state(live_db)
    files = demo_files(small_demo_database[1])
    lines = files["accounts"][1].decode().splitlines()
    lines[2] += ",one field too many"
    files["accounts"] = ("Q3 accounts.csv", "\n".join(lines).encode())

    at = upload_and_build(open_page("data_page"), files)

    assert file_state(live_db) == before
    failure = next(e for e in at.error if e.value.startswith("The build failed"))
    assert "Q3 accounts.csv: is not a well-formed CSV table at line 3" in failure.value
    assert "retention-upload" not in failure.value  # never the temporary copy the build read
    # shown in the page itself, not inside the collapsed progress box
    assert failure in list(at.main.children.values())
