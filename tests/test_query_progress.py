"""DuckDB draws a progress bar on standard output for a long query, whether or not that output is a terminal: a build
logged to a file (a scheduled refresh) would fill its log with the bar's frames. The build hides it when its output
is not a terminal. (A cursor draws none: the app's queries and the calibration's run on cursors.)

Each connection here is told at once to draw the bar for every query without waiting (progress_bar_time 0, which
also turns the bar on), as a long query at scale would; the code under test then has its say."""

from __future__ import annotations

import duckdb
import pytest

import pipelines.build
from pipelines.build import build_database
from pipelines.settings import BuildSettings
from pipelines.sqlrun import run_file

CONNECT = duckdb.connect


def _connect_drawing_bars_at_once(*args, **kwargs) -> duckdb.DuckDBPyConnection:
    con = CONNECT(*args, **kwargs)
    con.execute("set progress_bar_time = 0")
    return con


@pytest.fixture
def bars_at_once(monkeypatch):
    """Every connection the build opens draws its bar at once."""
    monkeypatch.setattr(pipelines.build.duckdb, "connect", _connect_drawing_bars_at_once)


def _long_query(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("select count(*) from range(50000000) as t(x) where x % 7 = 3").fetchall()


def test_the_setting_keeps_the_bar_out_of_a_log(capfd):
    con = _connect_drawing_bars_at_once()
    _long_query(con)
    assert "%" in capfd.readouterr().out  # without it, the bar reaches an output that is not a terminal
    run_file(con, "queries", "hide_query_progress")
    capfd.readouterr()  # the setting's own statement draws its bar before it takes effect
    _long_query(con)
    assert capfd.readouterr().out == ""


def _build(small_demo_database, db, monkeypatch, terminal: bool) -> None:
    monkeypatch.setattr("sys.stdout.isatty", lambda: terminal)
    _, demo = small_demo_database
    build_database(demo.accounts, demo.interactions, db, mrr_history=demo.mrr_history,
                   settings=BuildSettings(fit_models=False))


def test_a_build_draws_the_bar_on_a_terminal_and_not_into_a_log(bars_at_once, small_demo_database, tmp_path,
                                                                monkeypatch, capfd):
    _build(small_demo_database, tmp_path / "terminal.duckdb", monkeypatch, terminal=True)
    # the progress of each step, where someone watches it (every statement draws a 0% and a 100% frame here)
    assert capfd.readouterr().out.count("100%") > 20
    _build(small_demo_database, tmp_path / "logged.duckdb", monkeypatch, terminal=False)
    # the bar of the setting's own statement, the build's first, before it takes effect; then none
    assert capfd.readouterr().out.count("100%") <= 1
