"""The build plan read from the SQL files (pipelines/plan.py): every file is built and every built table has a
file, the order follows the tables each file reads, a header that makes no plan is an error naming the file, and
the table catalogue (docs/tables.md) is the one the headers make."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines import build_fill
from pipelines.build import build_database
from pipelines.demo import generate_demo
from pipelines.plan import (AUDITS_DIR, CATALOGUE_PATH, PlanError, catalogue, header, plan_of, read_plan,
                            what_sql_reads)
from pipelines.settings import BuildSettings
from pipelines.sqlrun import SQL_DIR

LAYER_FOLDERS = ("00_build", "10_staging", "20_metrics", "30_panel", "40_marts", "60_models")


@pytest.fixture(scope="module")
def plan():
    return read_plan()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A small demo built without the models (their tables are made, empty): (database path, stage events)."""
    folder = tmp_path_factory.mktemp("plan_build")
    demo = generate_demo(folder / "demo", n_accounts=150, seed=3)
    events = []
    build_database(demo.accounts, demo.interactions, folder / "r.duckdb", mrr_history=demo.mrr_history,
                   settings=BuildSettings(fit_models=False), progress=events.append)
    return folder / "r.duckdb", events


def sql_copy(tmp_path: Path, **files: str) -> Path:
    """The project's sql/ folder copied, with `files` ("40_marts/name": text) added or replaced."""
    copy = tmp_path / "sql"
    shutil.copytree(SQL_DIR, copy)
    for name, text in files.items():
        (copy / f"{name}.sql").write_text(text, encoding="utf-8")
    return copy


# --- every file is built, every built table has a file ------------------------------------------


def test_every_file_of_a_layer_folder_is_a_step_of_the_plan(plan):
    files = {f"{p.parent.name}/{p.stem}" for folder in LAYER_FOLDERS for p in (SQL_DIR / folder).glob("*.sql")}
    steps = {f"{s.layer_dir}/{s.file}" for s in plan.steps}
    assert files <= steps
    assert steps - files == {"queries/account_risk_table"}  # its columns are the risk model's, filled in


def test_a_build_leaves_exactly_the_tables_and_views_the_plan_keeps(built, plan):
    db_path, _ = built
    with duckdb.connect(str(db_path), read_only=True) as con:
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        views = {r[0] for r in con.execute("select view_name from duckdb_views() where not internal").fetchall()}
        counts = json.loads(con.execute("select row_counts_json from build_info").fetchone()[0])
    assert tables | views == {s.name for s in plan.steps if s.kind != "temporary"}
    assert views == {s.name for s in plan.steps if s.kind == "view"}
    assert set(counts) == set(plan.kept)  # the Data page's list: the views the app replaces are not in it


def test_a_build_reports_the_plan_stage_by_stage_with_the_audits_before_the_models(built, plan):
    _, events = built
    assert [stage for stage, _ in itertools.groupby(e.stage for e in events)] == [
        "load", "staging", "metrics", "panel", "marts", "audits", "models"]
    assert [e.table for e in events if e.stage in ("staging", "metrics", "panel", "marts")] == [
        s.name for s in plan.loop if s.stage]
    assert [e.table for e in events if e.stage == "load"] == ["accounts", "interactions", "mrr_history"]


def test_every_table_python_fills_and_every_slot_has_its_filler(plan):
    for step in plan.loop:
        if step.made_by:
            assert step.name in build_fill.MAKERS[step.made_by], step.path
        assert set(step.slots) <= set(build_fill.SLOTS), step.path


# --- the order comes from what each file reads ----------------------------------------------------


def test_each_step_runs_after_the_steps_making_what_it_reads(plan):
    position = {}
    for i, step in enumerate(plan.loop):
        for table in step.reads:
            if table in position:
                assert position[table] < i, f"{step.path} runs before {table} is made"
        position.setdefault(step.name, i)
    as_of_reads = {"typed_accounts", "typed_interactions"}  # queries/latest_input_date.sql
    for step in plan.loop:
        if "as_of" in step.params:
            assert all(position[t] < position[step.name] for t in as_of_reads), step.path


def test_the_staged_interactions_become_a_view_of_the_metrics_once_every_reader_of_the_staged_rows_ran(plan):
    staged = next(i for i, s in enumerate(plan.loop) if s.name == "stg_interactions" and s.replaces is None)
    view = next(i for i, s in enumerate(plan.loop) if s.replaces == "stg_interactions")
    assert plan.loop[view].reads == ("interaction_metrics",)
    readers = [i for i, s in enumerate(plan.loop) if "stg_interactions" in s.reads and i != view]
    assert readers and staged < min(readers) and max(readers) < view
    assert {"interaction_metrics", "load_report"} <= {plan.loop[i].name for i in readers}


def test_a_working_table_is_dropped_once_no_later_step_reads_it_even_through_a_view(plan):
    from pipelines.build_refresh import working_tables_read

    position = {s.name: i for i, s in enumerate(plan.loop) if s.replaces is None}
    done = {name: i for i, names in plan.working_tables_done().items() for name in names}
    working = {s.name for s in plan.steps if s.kind == "temporary"}
    assert set(done) == working
    # the metrics read the typed interactions through the staging view, the panel's last step the service measures
    assert done["typed_interactions"] == position["interaction_metrics"]
    assert done["account_month_service"] == position["account_months"]
    for name, at in done.items():
        later = [s for s in plan.loop[at + 1:] if name in plan.reads_through_views(s.reads, plan.loop.index(s))]
        assert later == [], f"{name} is dropped before {later[0].name} reads it"
    # a refresh reads every working table at its scope, and makes the load report again at its merge, reading
    # input_sources then: held until the first mart
    refreshing = {name: i for i, names in plan.working_tables_done(working_tables_read(plan)).items() for name in names}
    first_mart = next(i for i, s in enumerate(plan.loop) if s.layer_dir >= "40")
    assert refreshing["input_sources"] == first_mart > done["input_sources"]
    assert refreshing["typed_interactions"] == done["typed_interactions"]


def test_no_audit_reads_a_model_table(plan):
    models = {s.name for s in plan.made_by("models")}
    assert plan.audits and all(not set(a.reads) & models for a in plan.audits)
    assert {a.name for a in plan.audits} == {p.stem for p in (SQL_DIR / AUDITS_DIR).glob("*.sql")}


def test_a_new_mart_is_one_file_placed_after_what_it_reads(tmp_path):
    mart = ("-- grain: one row per plan: its accounts\n-- kind: table\n-- engines: duckdb, spark\n"
            "select plan, count(*) as n_accounts from account_survival group by plan\n")
    twin = "-- grain: one row\n-- kind: table\nselect count(*) as n_accounts from account_survival\n"
    new = plan_of(sql_copy(tmp_path, **{"40_marts/zz_accounts": mart, "40_marts/accounts_by_plan": twin}))
    names = [s.name for s in new.loop]
    assert names.index("account_survival") < names.index("accounts_by_plan")
    assert "zz_accounts" in new.kept and "`zz_accounts`" in catalogue(new)
    assert new.step("zz_accounts").engine("spark") == "spark"
    assert new.step("accounts_by_plan").engine("spark") == "duckdb"  # engines: duckdb unless the header says
    # both ready at the same depth once account_survival is made: by file name
    assert names.index("accounts_by_plan") < names.index("zz_accounts")


def test_reading_a_table_no_file_makes_is_an_error_naming_the_file(tmp_path):
    mart = "-- grain: one row\n-- kind: table\nselect count(*) as n from no_such_table\n"
    with pytest.raises(PlanError, match=r"sql/40_marts/lost\.sql reads no_such_table"):
        plan_of(sql_copy(tmp_path, **{"40_marts/lost": mart}))


def test_a_file_of_a_layer_folder_without_a_kind_is_an_error(tmp_path):
    with pytest.raises(PlanError, match=r"no kind in the header of sql/40_marts/forgotten\.sql"):
        plan_of(sql_copy(tmp_path, **{"40_marts/forgotten": "-- grain: one row\nselect 1 as one\n"}))


def test_files_reading_each_other_in_a_circle_are_an_error(tmp_path):
    first = "-- grain: one row\n-- kind: table\nselect * from second_mart\n"
    second = "-- grain: one row\n-- kind: table\nselect * from first_mart\n"
    with pytest.raises(PlanError, match="circle"):
        plan_of(sql_copy(tmp_path, **{"40_marts/first_mart": first, "40_marts/second_mart": second}))


def test_an_audit_reading_a_model_table_is_an_error(tmp_path):
    audit = "-- every effect has a term\nselect * from driver_effects where term is null\n"
    with pytest.raises(PlanError, match="audits run before the models"):
        plan_of(sql_copy(tmp_path, **{f"{AUDITS_DIR}/effects_have_terms": audit}))


@pytest.mark.parametrize("line, problem", [
    ("-- kind: kept", "kind 'kept'"),
    ("-- kind: table\n-- engines: duckdb, postgres", "engines"),
    ("-- kind: table\n-- made by: cron", "made by 'cron'"),
    ("-- kind: table\n-- parts: calendar_months", "no \\$part of \\$n_parts"),
])
def test_a_header_value_the_build_does_not_know_is_an_error(tmp_path, line, problem):
    mart = f"-- grain: one row\n{line}\nselect count(*) as n from calendar_months\n"
    with pytest.raises(PlanError, match=r"sql/40_marts/odd\.sql: .*" + problem):
        plan_of(sql_copy(tmp_path, **{"40_marts/odd": mart}))


# --- reading a file -------------------------------------------------------------------------------


def test_header_keys_and_the_grain_going_on_over_lines():
    keys, grain = header("-- grain: one row per account,\n-- with its cell\n-- kind: table\n-- parts: x\n"
                         "-- why parts: a note on parts, not the grain\nselect 1\n-- kind: view\n")
    assert keys == {"grain": "one row per account,", "kind": "table", "parts": "x"}
    assert grain == "one row per account, with its cell"
    with pytest.raises(PlanError, match="given twice"):
        header("-- grain: one row\n-- kind: table\n-- kind: view\nselect 1")


def test_the_tables_a_query_reads_are_its_tables_not_its_ctes():
    sql = """with accounts as (select * from stg_accounts),
        stg_accounts as (select * from accounts join calendar_months using (month_start))
        select * from stg_accounts where account_id in (select account_id from account_months)
        union all select * from generate_series(1, 3) as t(x) where $as_of > 1"""
    # the first CTE reads the table stg_accounts; the second CTE of that name shadows it only below itself
    assert what_sql_reads(sql) == (True, None, ("account_months", "calendar_months", "stg_accounts"))
    assert what_sql_reads("create or replace view stg_x as select * from stg_y") == (False, "stg_x", ("stg_y",))
    assert what_sql_reads("create table if not exists made (a varchar, b double)") == (False, "made", ())
    # a slot holds columns the build chooses: read as one column where it stands
    assert what_sql_reads("select s.account_id{values} from stg_accounts as s order by {columns}")[2] == (
        "stg_accounts",)
    # a reason's '{detail}' is text, not a slot
    assert what_sql_reads("select replace(r.reason, '{detail}', 'x') as reason from rejects as r")[2] == ("rejects",)


# --- the catalogue --------------------------------------------------------------------------------


def test_the_catalogue_is_the_one_the_headers_make():
    """docs/tables.md is generated: run `python -m pipelines.plan --catalogue` after changing a SQL file's header."""
    assert CATALOGUE_PATH.read_text(encoding="utf-8") == catalogue(), (
        "docs/tables.md is stale: python -m pipelines.plan --catalogue")


def test_the_catalogue_lists_every_table_with_its_grain(plan):
    text = catalogue(plan)
    for step in plan.steps:
        assert f"| `{step.name}` |" in text and step.path in text
        assert step.grain.split(":")[0].replace("<", "&lt;").replace(">", "&gt;") in text
