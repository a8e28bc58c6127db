"""Several values per segment (`COLUMN in V1|V2`), numeric ranges, and the sidebar that writes them to the URL.

The parser and the predicate (pipelines/filters.py) run on literal rows in an in-memory DuckDB, each expected row
set written here. The data layer, the command and the app run on the small demo, their counts checked against SQL
written here; the scope test checks that a set can never widen a csm's book, since every filter is ANDed.
"""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pandas as pd
import pytest

from conftest import ACCOUNT_HEADER, page_failures, run_app
from conftest import APP_RUN_TIMEOUT as RUN_TIMEOUT
from dashboard.labels import filter_words, filters_in_words
from dashboard.sidebar import NumberSpan, _parse, number_span, range_texts
from pipelines.filters import (FilterError, allow_list, filter_predicate, parse_filter, parse_filters, set_values,
                               values_filter_text)

COLUMNS = allow_list([("plan", "categorical"), ("csm", "categorical"), ("seats", "numeric")])
# Values that break a naive split: a comma, spaces, a literal pipe, a backslash, a quote, SQL
ODD_VALUES = ["Growth, annual", "Dana Ruiz", "A|B", "back\\slash", "O'Brien", "x' or '1'='1"]


@pytest.fixture
def rows():
    """account_survival as literal rows: an account per odd value, two plain plans, one with no plan."""
    con = duckdb.connect()
    con.execute("create table account_survival (account_id varchar, plan varchar, csm varchar, seats double, "
                "mrr double, signup_cohort_month date, signup_date date)")
    plans = [*ODD_VALUES, "Starter", "Growth", None]
    con.executemany("insert into account_survival values (?, ?, ?, ?, ?, ?, ?)",
                    [(f"a{i}", plan, "Dana Ruiz" if i % 2 else "Sam Patel", i, 100.0 * i, date(2024, 1 + i, 1),
                      date(2024, 1 + i, 5)) for i, plan in enumerate(plans)])
    yield con
    con.close()


def matching(con, texts: list[str]) -> list[str]:
    predicate, params = filter_predicate(parse_filters(texts, COLUMNS))
    sql = f"select account_id from account_survival where {predicate.text} order by account_id"
    return [r[0] for r in con.execute(sql, params).fetchall()]


# ---- the set syntax ----------------------------------------------------------------------------

def test_set_filter_keeps_accounts_with_any_of_its_values_each_bound(rows):
    assert matching(rows, ["plan in Starter|Growth"]) == ["a6", "a7"]
    assert matching(rows, ["PLAN IN  Starter | Growth "]) == ["a6", "a7"]  # case of the word, spaces round values
    predicate, params = filter_predicate(parse_filters(["plan in Starter|Growth"], COLUMNS))
    assert predicate.text == '("plan" in ($filter_0_0, $filter_0_1))'
    assert params == {"filter_0_0": "Starter", "filter_0_1": "Growth"} and predicate.params == tuple(params)


def test_set_values_with_commas_spaces_pipes_backslashes_and_quotes_round_trip(rows):
    text = values_filter_text("plan", ODD_VALUES)
    assert text == "plan in Growth, annual|Dana Ruiz|A\\|B|back\\\\slash|O'Brien|x' or '1'='1"
    assert parse_filter(text, COLUMNS).value == tuple(ODD_VALUES)
    assert matching(rows, [text]) == ["a0", "a1", "a2", "a3", "a4", "a5"]
    predicate, _ = filter_predicate(parse_filters([text], COLUMNS))
    assert "'" not in predicate.text and "Brien" not in predicate.text  # values are bound, never pasted


def test_one_value_keeps_the_equality_form_and_an_equality_takes_a_pipe_literally(rows):
    assert values_filter_text("plan", ["Starter"]) == "plan=Starter"
    assert values_filter_text("plan", ["A|B"]) == "plan=A|B"
    assert matching(rows, ["plan=A|B"]) == ["a2"]  # the links written before sets keep their meaning
    assert matching(rows, ["plan=in Starter"]) == []  # `=` comes first: the value is "in Starter"


def test_sets_and_other_filters_are_anded(rows):
    assert matching(rows, ["plan in Starter|Growth|Dana Ruiz", "seats>=6"]) == ["a6", "a7"]
    # two equalities on one column still mean both, which no account is: "any of" is said only by a set
    assert matching(rows, ["plan=Starter", "plan=Growth"]) == []
    assert matching(rows, ["plan in Starter|Growth", "plan in Growth|A\\|B"]) == ["a7"]


@pytest.mark.parametrize("text, words", [
    ("plan in", "the set is empty"),
    ("plan in   ", "the set is empty"),
    ("plan in Starter||Growth", "has an empty value"),
    ("plan in Starter|", "has an empty value"),
    ("plan in Star\\ter", "\\t in 'Star\\\\ter' is not an escape"),
    ("plan in Starter\\", "ends with a lone \\"),
    ("seats in 1|2", "column 'seats' holds numbers, and only a categorical column takes a set"),
    ("mrr in 100|200", "column 'mrr' holds numbers"),
    ("signup_cohort_month in 2024-01|2024-02", "column 'signup_cohort_month' holds signup months"),
    ("tier in Gold|Silver", "unknown column 'tier'"),
    ("plan >= Starter", "only = and != apply, or in with a set of values (plan in A|B)"),
])
def test_a_bad_set_is_refused_with_words_that_say_why(text, words):
    with pytest.raises(FilterError) as error:
        parse_filter(text, COLUMNS)
    assert words in str(error.value) and f"--filter {text!r}" in str(error.value)


def test_a_value_list_with_nothing_in_it_has_no_filter_text():
    with pytest.raises(FilterError, match="an empty set would match no account"):
        values_filter_text("plan", [])
    assert set_values("a|b|a") == ("a", "b")


def test_cli_km_takes_a_set_and_a_range(small_demo_database, capsys):
    from pipelines.cli import main

    db_path = small_demo_database[0]
    code = main(["km", "--db", str(db_path), "--filter", "plan in Starter|Growth", "--filter", "mrr>=100",
                 "--format", "json"])
    out, _ = capsys.readouterr()
    assert code == 0
    with duckdb.connect(str(db_path), read_only=True) as con:
        (expected,) = con.execute("select count(*) from account_survival where plan in ('Starter', 'Growth') "
                                  "and mrr >= 100").fetchone()
        (everyone,) = con.execute("select count(*) from account_survival").fetchone()
    result = json.loads(out)
    assert result["n_accounts"] == expected and 0 < expected < everyone
    assert result["filters"][0] == {"column": "plan", "operator": "in", "value": ["Starter", "Growth"],
                                    "text": "plan in Starter|Growth"}

    assert main(["km", "--db", str(db_path), "--filter", "plan in Starter||Growth"]) == 2
    assert "has an empty value between two |" in capsys.readouterr().err


# ---- the data layer: the scope, the stored cells, the numeric ranges ---------------------------

def count(db, where: str, params: list | None = None) -> int:
    return db.execute(f"select count(*) from account_survival where {where}", params or []).fetchone()[0]


def test_a_set_never_widens_a_csms_scope(db, monkeypatch):
    """Dana's scope `csm=Dana Ruiz` ANDed with her own `csm in Dana Ruiz|Sam Patel` is still her book alone,
    in the pipelines' predicate and in the app's data layer, where the scope is put before her filters."""
    from dashboard import auth, data
    from pipelines.access import ROLE_PERMISSIONS, Access
    from pipelines.filters import filterable_columns

    book, both = count(db, "csm = 'Dana Ruiz'"), count(db, "csm in ('Dana Ruiz', 'Sam Patel')")
    assert 0 < book < both
    predicate, params = filter_predicate(parse_filters(["csm=Dana Ruiz", "csm in Dana Ruiz|Sam Patel"],
                                                       filterable_columns(db)))
    assert count(db, predicate.text, params) == book

    dana = Access(who="dana@example.com", role="csm", scope=("csm=Dana Ruiz",), permissions=ROLE_PERMISSIONS["csm"])
    monkeypatch.setattr(auth, "current_access", lambda: dana)
    assert data.account_count(db, ("csm in Dana Ruiz|Sam Patel",)) == book
    assert data.account_count(db, ("csm in Sam Patel|Lea Martin",)) == 0
    assert data.segment_levels(db, "csm") == ["Dana Ruiz"]
    monkeypatch.setattr(auth, "current_access", lambda: Access(who="exec@example.com", role="executive"))
    assert data.account_count(db, ("csm in Dana Ruiz|Sam Patel",)) == both


@pytest.mark.parametrize("filters", [
    ("plan in Starter|Growth",),
    ("plan in Starter|Business|Enterprise", "region in EMEA|APAC", "signup_cohort_month>=2024-01"),
    ("csm=Dana Ruiz", "csm in Dana Ruiz|Sam Patel", "company_size in 1-10|11-50"),
])
def test_sets_on_the_cells_columns_read_the_stored_cells_and_equal_the_accounts_counted(db, as_of, monkeypatch,
                                                                                       filters):
    """A set on a column the build's segment cells are made of is a lookup of the cells it selects, and gives what
    counting the filtered accounts gives."""
    from dashboard import data
    from pipelines.filters import filterable_columns

    assert data.cells_answer(parse_filters(list(filters), filterable_columns(db)), data.cell_columns(db))
    looked_up = []
    original = data.execute_template
    monkeypatch.setattr(data, "execute_template",
                        lambda con, name, *a, **k: looked_up.append(name) or original(con, name, *a, **k))
    marts = (data.kpi_monthly, data.cohort_retention, data.headline_kpis)
    from_cells = [read(db, filters, as_of) for read in marts]
    assert looked_up.count("select_analysis_cells") == len(marts)
    monkeypatch.setattr(data, "cells_answer", lambda *args: False)
    counted = [read(db, filters, as_of) for read in marts]
    assert from_cells[2].loc["as_of"].active_accounts > 0
    for stored, recounted in zip(from_cells, counted):
        pd.testing.assert_frame_equal(stored, recounted, check_exact=False, rtol=1e-12)


def test_numeric_range_is_the_columns_min_and_max_among_the_persons_accounts(db, monkeypatch):
    from dashboard import auth, data
    from pipelines.access import ROLE_PERMISSIONS, Access

    low, high = db.execute("select min(mrr), max(mrr) from account_survival").fetchone()
    assert data.numeric_range(db, "mrr")[:2] == (pytest.approx(low, abs=0), pytest.approx(high, abs=0))
    dana = Access(who="dana@example.com", role="csm", scope=("csm=Dana Ruiz",), permissions=ROLE_PERMISSIONS["csm"])
    monkeypatch.setattr(auth, "current_access", lambda: dana)
    assert data.numeric_range(db, "mrr")[1] == db.execute(
        "select max(mrr) from account_survival where csm = 'Dana Ruiz'").fetchone()[0]
    with pytest.raises(FilterError, match="'plan' is categorical, not numeric"):
        data.numeric_range(db, "plan")


# ---- the sidebar's pieces ------------------------------------------------------------------------

def test_link_texts_come_back_as_the_widgets_state():
    columns = allow_list([("plan", "categorical"), ("csm", "categorical"), ("seats", "numeric")])
    state = _parse(["plan=Starter", "csm in Dana Ruiz|A\\|B", "mrr>=100", "mrr<=500", "seats<=40",
                    "signup_cohort_month>=2024-01", "signup_cohort_month<=2025-06"], columns)
    assert state.values == {"plan": ["Starter"], "csm": ["Dana Ruiz", "A|B"]}
    assert (state.lower, state.upper) == ({"mrr": 100.0}, {"mrr": 500.0, "seats": 40.0})
    assert (state.cohort_from, state.cohort_to) == ("2024-01", "2025-06")
    # texts the sidebar cannot show are left out; two texts on one column narrow each other, as the query would
    state = _parse(["plan in Starter|Growth", "plan in Growth|Business", "plan!=Pro", "tier=Gold", "plan in ",
                    "mrr>=100", "mrr>=200", "1=1"], columns)
    assert state.values == {"plan": ["Growth"]} and state.lower == {"mrr": 200.0}


def test_a_numeric_span_is_a_slider_only_for_a_few_whole_numbers():
    assert number_span(1.0, 150.0, whole=True) == NumberSpan(1, 150, 1, slider=True)
    assert number_span(12.5, 48_210.4, whole=False) == NumberSpan(12, 48_211, 1, slider=False)
    assert number_span(0.125, 0.9, whole=False) == NumberSpan(0.12, 0.9, 0.01, slider=False)
    assert number_span(5.0, 5.0, whole=True) is None and number_span(None, None, whole=True) is None
    span = NumberSpan(0, 1000, 1, slider=False)
    assert range_texts("mrr", (0, 1000), span) == []
    assert range_texts("mrr", (100, 500), span) == ["mrr>=100", "mrr<=500"]
    assert range_texts("mrr", (500, 100), span) == ["mrr>=100", "mrr<=500"]  # boxes set the wrong way round
    assert range_texts("score", (0.25, 1000), NumberSpan(0.0, 1000.0, 0.01, False)) == ["score>=0.25"]


def test_sets_and_ranges_read_as_words():
    assert filter_words("plan in Starter|Growth") == "Plan is Starter or Growth"
    assert filter_words("company_size in 1-10|11-50|1000+") == "Company Size is 1-10, 11-50 or 1000+"
    assert filter_words("csm in A\\|B|Dana Ruiz") == "CSM is A|B or Dana Ruiz"
    assert filter_words("mrr>=1500") == "MRR at least $1,500" and filter_words("seats<=40") == "Seats at most 40"
    assert filter_words("plan!=Starter") == "Plan is not Starter" and filter_words("plan=Starter") == "Plan = Starter"
    assert filters_in_words(["csm=Dana Ruiz", "mrr>=100", "plan in Starter|Growth", "mrr<=500"]) == \
        ["CSM = Dana Ruiz", "MRR $100–$500", "Plan is Starter or Growth"]
    assert filters_in_words(["seats<=40", "signup_year>=2024", "signup_year<=2025"]) == \
        ["Seats at most 40", "Signup Year 2024–2025"]


# ---- the app ---------------------------------------------------------------------------------------

@pytest.fixture
def open_app(small_demo_database, monkeypatch):
    def _open(query_params: dict | None = None, db_path=None):
        monkeypatch.setenv("RETENTION_DB", str(db_path or small_demo_database[0]))
        return run_app("overview", query_params)
    return _open


def active_accounts(db, as_of: date, where: str = "true") -> str:
    (n,) = db.execute(f"select count(*) from account_survival where signup_date <= $as_of "
                      f"and (churn_date is null or churn_date > $as_of) and {where}", {"as_of": as_of}).fetchone()
    return f"{n:,}"


def tile(at, label: str = "Active accounts") -> str:
    return {m.label: m.value for m in at.metric}[label]


CHOSEN = ["plan in Growth|Starter", "mrr>=100", "mrr<=500"]


def test_app_two_plans_and_an_mrr_range_narrow_the_overview_and_travel_in_the_link(open_app, db, as_of):
    at = open_app()
    everyone = tile(at)
    assert at.sidebar.multiselect(key="filter:plan").options == ["Business", "Enterprise", "Growth", "Starter"]
    low, high = db.execute("select floor(min(mrr)), ceil(max(mrr)) from account_survival").fetchone()
    assert (at.sidebar.number_input(key="filter:mrr:from").value,
            at.sidebar.number_input(key="filter:mrr:to").value) == (low, high)

    at.sidebar.multiselect(key="filter:plan").set_value(["Starter", "Growth"]).run(timeout=RUN_TIMEOUT)
    two_plans = active_accounts(db, as_of, "plan in ('Starter', 'Growth')")
    assert not page_failures(at) and tile(at) == two_plans != everyone
    assert at.query_params == {"filter": "plan in Growth|Starter"}  # in the options' order, whatever the clicks

    at.sidebar.number_input(key="filter:mrr:from").set_value(100)
    at.sidebar.number_input(key="filter:mrr:to").set_value(500).run(timeout=RUN_TIMEOUT)
    narrowed = active_accounts(db, as_of, "plan in ('Starter', 'Growth') and mrr between 100 and 500")
    assert not page_failures(at) and tile(at) == narrowed and narrowed not in (two_plans, everyone)
    assert at.query_params["filter"] == CHOSEN
    assert "Filters: Plan is Growth or Starter, MRR $100–$500" in at.caption[0].value

    at.sidebar.multiselect(key="filter:plan").set_value([])
    at.sidebar.number_input(key="filter:mrr:from").set_value(int(low))
    at.sidebar.number_input(key="filter:mrr:to").set_value(int(high)).run(timeout=RUN_TIMEOUT)
    assert "filter" not in at.query_params and tile(at) == everyone


def test_app_opened_with_a_set_and_a_range_in_the_link_restores_the_widgets(open_app, db, as_of):
    at = open_app({"filter": CHOSEN})
    assert at.sidebar.multiselect(key="filter:plan").value == ["Growth", "Starter"]
    assert (at.sidebar.number_input(key="filter:mrr:from").value,
            at.sidebar.number_input(key="filter:mrr:to").value) == (100, 500)
    assert tile(at) == active_accounts(db, as_of, "plan in ('Starter', 'Growth') and mrr between 100 and 500")
    assert at.query_params["filter"] == CHOSEN

    # a link made before sets, and one value of a set, are the same view
    old = open_app({"filter": ["plan=Starter"]})
    assert old.sidebar.multiselect(key="filter:plan").value == ["Starter"]
    assert old.query_params["filter"] == "plan=Starter"
    assert tile(old) == active_accounts(db, as_of, "plan = 'Starter'")


def test_app_csm_link_naming_another_book_in_a_set_shows_only_her_own(small_demo_database, db, as_of, tmp_path,
                                                                     monkeypatch):
    """A csm opening a link whose set names another csm's book sees her own book: the set's values her sidebar does
    not offer are dropped, and her scope is ANDed with whatever is left."""
    roles = tmp_path / "roles.toml"
    roles.write_text('[users]\n"dana@example.com" = { role = "csm", scope = \'csm = "Dana Ruiz"\' }\n',
                     encoding="utf-8")
    monkeypatch.setenv("RETENTION_DB", str(small_demo_database[0]))
    monkeypatch.setenv("RETENTION_ROLES", str(roles))
    monkeypatch.setenv("RETENTION_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    import time
    now = int(time.time())
    user = {"is_logged_in": True, "email": "dana@example.com", "email_verified": True, "sub": "sub-dana",
            "iss": "http://localhost:9", "iat": now - 5, "exp": now + 600, "nonce": "n1"}
    at = run_app("overview", {"filter": ["csm in Dana Ruiz|Sam Patel"]}, user=user)

    assert tile(at) == active_accounts(db, as_of, "csm = 'Dana Ruiz'")
    assert at.sidebar.multiselect(key="filter:csm").value == ["Dana Ruiz"]
    assert "Sam Patel" not in at.caption[0].value


def test_app_a_numeric_segment_of_few_whole_numbers_is_a_slider_that_narrows_and_restores(build_rows, tmp_path,
                                                                                          monkeypatch):
    """A numeric segment (seats, 1 to 40) is a range slider; a range inside it is two bounds in the link, and the
    link brings the slider back."""
    accounts = [{"account_id": f"A{i}", "signup_date": f"2024-{1 + i % 12:02d}-01", "churn_date": "",
                 "mrr": str(50 * i), "plan": "Starter" if i % 2 else "Growth", "seats": str(i)}
                for i in range(1, 41)]
    built = build_rows(accounts, [], as_of=date(2025, 6, 30), account_header=[*ACCOUNT_HEADER, "seats"])
    monkeypatch.setenv("RETENTION_DB", str(tmp_path / "retention.duckdb"))
    at = run_app("overview")
    seats = at.sidebar.slider(key="filter:seats")
    assert (seats.min, seats.max, seats.value) == (1, 40, (1, 40))

    seats.set_value((10, 40)).run(timeout=RUN_TIMEOUT)
    assert at.query_params["filter"] == "seats>=10"
    assert tile(at) == f"{built.rows('select count(*) as n from account_survival where seats >= 10')[0]['n']:,}"
    assert "Filters: Seats at least 10" in at.caption[0].value

    again = run_app("overview", {"filter": ["seats>=10", "seats<=25"]})
    assert again.sidebar.slider(key="filter:seats").value == (10, 25)
    assert tile(again) == "16"
