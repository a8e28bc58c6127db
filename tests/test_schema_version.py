"""A database from another version of the tool: one message, everywhere, instead of fallbacks; and the one place
the database's path is decided ($RETENTION_DB).

A build records pipelines.schema.SCHEMA_VERSION in build_info. An older database is made here the way an older
build looks: a copy of the small demo's build whose build_info has no schema_version column (builds before the
version was recorded) or an older number. Every page of the app shows the one message and stops, the Data page
still offers the rebuild that replaces the database, and every command that reads a database exits 2 with it.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from conftest import APP_RUN_TIMEOUT, page_failures, run_app
from dashboard import data
from pipelines.access import load_roles
from pipelines.cli import build_parser, main as retention
from pipelines.schema import NEWER_BUILD, OLDER_BUILD, SCHEMA_VERSION, recorded_version, schema_problem
from pipelines.serve import load_deploy_config, scope_notes
from pipelines.settings import DEFAULT_DB_PATH, ENV_DB, database_path

ROOT = Path(__file__).resolve().parents[1]
PAGES_STOPPED = ["overview", "survival", "drivers", "investment", "at_risk"]


def older_copy(source: Path, folder: Path, version: int | None) -> Path:
    """A copy of a build as an older version of the tool left it: build_info without the schema_version column
    (version None: before versions were recorded), or with `version` recorded."""
    path = folder / f"older_{version}.duckdb"
    shutil.copyfile(source, path)
    with duckdb.connect(str(path)) as con:
        if version is None:
            con.execute("alter table build_info drop column schema_version")
        else:
            con.execute("update build_info set schema_version = $version", {"version": version})
    return path


@pytest.fixture(scope="module")
def before_versions(small_demo_database, tmp_path_factory) -> Path:
    return older_copy(small_demo_database[0], tmp_path_factory.mktemp("schema"), None)


# --- the version a build records --------------------------------------------------------------------------------

def test_a_build_records_the_schema_version_and_is_readable(db):
    assert db.execute("select schema_version from build_info").fetchone()[0] == SCHEMA_VERSION
    assert recorded_version(db) == SCHEMA_VERSION and schema_problem(db) is None


@pytest.mark.parametrize("version, problem", [(None, OLDER_BUILD), (SCHEMA_VERSION - 1, OLDER_BUILD),
                                              (SCHEMA_VERSION + 1, NEWER_BUILD)])
def test_another_versions_database_is_named_as_such(small_demo_database, tmp_path, version, problem):
    path = older_copy(small_demo_database[0], tmp_path, version)
    with duckdb.connect(str(path), read_only=True) as con:
        assert recorded_version(con) == version and schema_problem(con) == problem


def test_a_file_that_is_no_build_is_an_older_build(tmp_path):
    """No build_info at all (an empty DuckDB file): the same message, whose advice (rebuild) is what to do."""
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con:
        assert recorded_version(con) is None and schema_problem(con) == OLDER_BUILD


def test_the_app_reads_the_version_through_its_own_instance(small_demo_database, before_versions):
    """The app reads the file attached in an in-memory instance, through views (data.open_build): the version is
    found there too, and so is its absence."""
    for path, problem in ((small_demo_database[0], None), (before_versions, OLDER_BUILD)):
        con = data.open_build(str(path))
        try:
            assert data.schema_problem(con) == problem
        finally:
            con.close()


# --- the commands ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [
    ["km"], ["drivers"], ["risk"], ["revenue"],
    ["whatif", "--factor", "first_response_hours", "--change", "-50%"],
])
def test_every_command_that_reads_a_database_refuses_an_older_one_with_exit_2(before_versions, command, capsys):
    code = retention([*command, "--db", str(before_versions)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err == f"error: {before_versions}: {OLDER_BUILD}\n"


def test_serve_says_an_older_database_must_be_rebuilt_before_its_scopes_are_checked(before_versions):
    """`retention serve` checks the roles' scopes against the database's columns: an older build's are not this
    version's, so it says to rebuild (the app will say the same) rather than judge the scopes by them."""
    config = load_deploy_config(ROOT / "deploy" / "deploy.toml")
    notes = scope_notes(dataclasses.replace(config, database=before_versions), load_roles(config.roles))
    assert notes == [f"{before_versions}: {OLDER_BUILD} The scopes in {config.roles} are checked once it is "
                     "rebuilt."]


# --- the app ---------------------------------------------------------------------------------------------------

def open_app(monkeypatch, path: Path, page: str) -> AppTest:
    monkeypatch.setenv(ENV_DB, str(path))
    return run_app(page)


@pytest.mark.parametrize("page", PAGES_STOPPED)
def test_every_page_shows_the_one_message_on_an_older_database_and_nothing_else(monkeypatch, before_versions, page):
    at = open_app(monkeypatch, before_versions, page)
    assert [e.value for e in at.error] == [OLDER_BUILD]
    # nothing read from the database: no figures, tables, charts, nor the sidebar's filters
    assert not at.metric and not at.dataframe and not at.get("plotly_chart")
    assert not at.sidebar.multiselect and "Filters" not in [h.value for h in at.sidebar.header]


def test_the_data_page_opens_on_an_older_database_and_rebuilds_it(monkeypatch, small_demo_database, tmp_path):
    """The one page that still opens: it says the same and offers the upload that replaces the database; after the
    rebuild every page reads the new one."""
    path = older_copy(small_demo_database[0], tmp_path, None)
    at = open_app(monkeypatch, path, "data_page")
    assert [e.value for e in at.error] == [OLDER_BUILD]
    assert not [c for c in at.caption if c.value.startswith("Build ")]  # the older build's summary is not read
    demo = small_demo_database[1]
    keys = {"accounts": "up_accounts", "interactions": "up_interactions", "mrr_history": "up_mrr"}
    for source, key in keys.items():
        at.file_uploader(key=key).set_value((f"{source}.csv", Path(getattr(demo, source)).read_bytes(), "text/csv"))
    at.run(timeout=APP_RUN_TIMEOUT)
    next(b for b in at.button if b.label == "Build the database").click()
    at.run(timeout=APP_RUN_TIMEOUT * 2)
    assert not page_failures(at), page_failures(at)
    assert not at.error and any(s.value.startswith("Built the database") for s in at.success)
    with duckdb.connect(str(path), read_only=True) as con:
        assert schema_problem(con) is None
    overview = open_app(monkeypatch, path, "overview")
    assert not overview.error and [m.label for m in overview.metric][:1] == ["Active accounts"]
    # what the older database's pages lacked, now there
    assert overview.get("plotly_chart") and "Filters" in [h.value for h in overview.sidebar.header]


# --- $RETENTION_DB, read in one place -------------------------------------------------------------------------

def test_the_database_path_is_the_given_one_then_retention_db_then_the_default(monkeypatch, tmp_path):
    given, from_env = tmp_path / "given.duckdb", tmp_path / "env.duckdb"
    monkeypatch.delenv(ENV_DB, raising=False)
    assert database_path() == DEFAULT_DB_PATH == Path("data/retention.duckdb")
    assert database_path(given) == given
    monkeypatch.setenv(ENV_DB, "")  # set but empty: as if unset
    assert database_path() == DEFAULT_DB_PATH
    monkeypatch.setenv(ENV_DB, str(from_env))
    assert database_path() == from_env and database_path(given) == given
    # the app and every command follow it; a command's --db wins
    assert data.database_path() == from_env
    parser = build_parser()
    inputs = ["--accounts", "a.csv", "--interactions", "i.csv"]
    for command in (["build", *inputs], ["km"], ["drivers"], ["risk"], ["revenue"],
                    ["whatif", "--factor", "csat", "--change", "+1"]):
        assert parser.parse_args(command).db == from_env
        assert parser.parse_args([*command, "--db", str(given)]).db == given


def test_retention_db_is_read_in_one_place():
    """Only settings.database_path reads the variable (serve and the tests set it for the app they start)."""
    readers = [path.relative_to(ROOT).as_posix() for folder in ("pipelines", "dashboard")
               for path in (ROOT / folder).rglob("*.py") if '"RETENTION_DB"' in path.read_text(encoding="utf-8")]
    assert readers == ["pipelines/settings.py"]
    assert "RETENTION_DB" not in (ROOT / "streamlit_app.py").read_text(encoding="utf-8")
