"""Shared helpers: write literal input rows to files and build a real DuckDB database from them."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.build import build_database
from pipelines.settings import BuildSettings
from shared_runs import once_per_run

APP = Path(__file__).resolve().parents[1] / "streamlit_app.py"
# The first run of a page fits or reads models; generous so a slow CI machine does not flake.
APP_RUN_TIMEOUT = 60
ACCOUNT_HEADER = ["account_id", "signup_date", "churn_date", "mrr", "plan"]
INTERACTION_HEADER = [
    "interaction_id", "account_id", "created_at", "first_response_at", "resolved_at", "severity",
    "csat", "reopens", "handoffs", "escalated", "agent_updates", "credit_amount",
]


def write_csv(path: Path, header: list[str], rows: list[dict | list]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(h, "") for h in header] if isinstance(row, dict) else row)
    return path


def page_failures(at) -> list[str]:
    """What went wrong on a rendered AppTest page, as a person would see it: an exception Streamlit shows, or the
    app's own short message for an unexpected error (whose traceback the test's captured log holds)."""
    from dashboard.errors import ERROR_ID_TEXT

    return [e.value for e in at.exception] + [e.value for e in at.error if ERROR_ID_TEXT in e.value]


def run_app(page: str = "overview", query_params: dict | None = None, user: dict | None = None,
            check: bool = True):
    """An AppTest of the app that has rendered `page` (with these URL parameters, as this `st.user`)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=APP_RUN_TIMEOUT)
    if user is not None:
        at.user = user
    at.query_params.update(query_params or {})
    if page != "overview":
        at.switch_page(f"dashboard/app_pages/{page}.py")
    at.run(timeout=APP_RUN_TIMEOUT)
    if check:
        assert not page_failures(at), page_failures(at)
    return at


class Built:
    """A database built from literal rows, open read-only, with a query helper."""

    def __init__(self, result, con: duckdb.DuckDBPyConnection):
        self.result = result
        self.con = con

    def rows(self, sql: str, params: list | None = None) -> list[dict]:
        relation = self.con.execute(sql, params or [])
        columns = [d[0] for d in relation.description]
        return [dict(zip(columns, row)) for row in relation.fetchall()]

    def panel(self, account_id: str) -> list[dict]:
        return self.rows("select * from account_months where account_id = ? order by month_start", [account_id])


@pytest.fixture
def build_rows(tmp_path):
    """build_rows(accounts, interactions, as_of=date, interaction_header=..., mrr_history=[...]) -> Built"""
    opened: list[duckdb.DuckDBPyConnection] = []

    def _build(accounts, interactions, as_of: date | None = None, interaction_header=INTERACTION_HEADER,
               account_header=ACCOUNT_HEADER, mrr_history=None, **settings) -> Built:
        accounts_path = write_csv(tmp_path / "accounts.csv", account_header, accounts)
        interactions_path = write_csv(tmp_path / "interactions.csv", interaction_header, interactions)
        mrr_path = None
        if mrr_history is not None:
            mrr_path = write_csv(tmp_path / "mrr_history.csv", ["account_id", "month", "mrr"], mrr_history)
        db_path = tmp_path / "retention.duckdb"
        result = build_database(accounts_path, interactions_path, db_path, mrr_history=mrr_path,
                                settings=BuildSettings(as_of=as_of, **settings))
        con = duckdb.connect(str(db_path), read_only=True)
        opened.append(con)
        return Built(result, con)

    yield _build
    for con in opened:
        con.close()


def _demo_database(tmp_path_factory, name: str, n_accounts: int, seed: int = 7, involuntary_share: float = 0.0):
    """A demo built once per test run (both pytest-xdist processes read the same files, which no test writes)."""
    from pipelines.demo import generate_demo

    def generate_and_build():
        folder = tmp_path_factory.mktemp(name)
        demo = generate_demo(folder / "demo", n_accounts=n_accounts, seed=seed, involuntary_share=involuntary_share)
        db_path = folder / "retention.duckdb"
        build_database(demo.accounts, demo.interactions, db_path, mrr_history=demo.mrr_history)
        return db_path, demo

    return once_per_run(tmp_path_factory, name, generate_and_build)


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory):
    """The default demo (5,000 accounts, seed 7), built once per test session: (db_path, DemoResult)."""
    return _demo_database(tmp_path_factory, "demo_default", 5000)


@pytest.fixture(scope="session")
def small_demo_database(tmp_path_factory):
    """A 600-account demo for comparisons with slower reference implementations."""
    return _demo_database(tmp_path_factory, "demo_small", 600, seed=11)


@pytest.fixture(scope="session")
def cause_demo_database(tmp_path_factory):
    """A 3,000-account demo with churn reasons planted (about a third of churn involuntary, which no service
    measure moves), built once per test session: (db_path, DemoResult)."""
    return _demo_database(tmp_path_factory, "demo_causes", 3000, involuntary_share=1 / 3)


@pytest.fixture(scope="module")
def cause_demo_con(cause_demo_database):
    """A read-only connection to the demo with planted churn causes."""
    con = duckdb.connect(str(cause_demo_database[0]), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def demo_con(demo_database):
    """A read-only connection to the default demo database."""
    con = duckdb.connect(str(demo_database[0]), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def db(small_demo_database):
    """A read-only connection to the small demo database."""
    con = duckdb.connect(str(small_demo_database[0]), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def as_of(db) -> date:
    """The small demo's as-of date."""
    return db.execute("select as_of_date from build_info").fetchone()[0]


@pytest.fixture(scope="module")
def demo_drivers(demo_con):
    """The drivers model fitted on the default demo."""
    from pipelines.models.drivers import ServiceDrivers

    return ServiceDrivers().fit(demo_con)


def require_pdf(pdftoppm: bool = False) -> None:
    """Skip (fail under CI, which installs them) when WeasyPrint cannot make PDFs on this machine (the system's Pango
    text library is missing) or, with `pdftoppm`, when poppler's page renderer is missing."""
    import os
    import shutil

    from dashboard.reports import pdf

    missing = []
    if pdf.weasyprint is None:
        missing.append(f"WeasyPrint cannot load Pango ({pdf.MISSING_LIBRARY}); apt-get install libpango-1.0-0 "
                       "libpangoft2-1.0-0")
    if pdftoppm and shutil.which("pdftoppm") is None:
        missing.append("pdftoppm is not installed; apt-get install poppler-utils")
    if missing:
        if os.environ.get("CI"):
            pytest.fail("PDF test cannot run under CI: " + "; ".join(missing))
        pytest.skip("; ".join(missing))
