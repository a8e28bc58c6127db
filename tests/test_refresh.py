"""The incremental refresh (`retention build --incremental`): its tables equal a full build's of the same inputs,
table by table, after a week of new data, a late ticket, a changed churn date and a second refresh on top; where it
cannot show that (a removed row, other settings, no previous database) it builds whole and says why; a failed refresh
leaves the previous database as it was."""

from __future__ import annotations

import hashlib
import re
import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines.build import build_database
from pipelines.build_refresh import refresh_problems, remade_steps, settled_before
from pipelines.errors import InputError
from pipelines.plan import plan_of, read_plan
from pipelines.settings import BuildSettings
from pipelines.sqlrun import SQL_DIR

# a model's state records when it was fitted; nothing else in a table may differ
FITTED_AT = re.compile(r'"fitted_at": "[^"]*"')


def _frames(demo) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(path, dtype=str, keep_default_na=False)
            for name, path in (("accounts", demo.accounts), ("interactions", demo.interactions),
                               ("mrr_history", demo.mrr_history))}


def _before(column: pd.Series, cut: pd.Timestamp) -> pd.Series:
    return pd.to_datetime(column.replace("", None)) < cut


def _as_known_at(full: dict[str, pd.DataFrame], cut: pd.Timestamp) -> tuple[dict, dict]:
    """The inputs as an export taken at `cut` would have held them, and the full inputs written as a later export
    of the same system writes them: the rows the earlier export had first, in its order, then the new ones."""
    accounts, interactions, mrr = full["accounts"], full["interactions"], full["mrr_history"]
    signed = _before(accounts.signup_date, cut)
    old_accounts = accounts[signed].copy()
    not_yet = ~_before(old_accounts.churn_date, cut) & (old_accounts.churn_date != "")
    old_accounts.loc[not_yet, ["churn_date", "churn_reason"]] = ""
    created = _before(interactions.created_at, cut)
    old_interactions = interactions[created].copy()
    for column in ("first_response_at", "resolved_at"):
        later = ~_before(old_interactions[column], cut) & (old_interactions[column] != "")
        old_interactions.loc[later, column] = ""
    months = _before(mrr.month, cut)
    old = {"accounts": old_accounts, "interactions": old_interactions, "mrr_history": mrr[months]}
    new = {"accounts": pd.concat([accounts[signed], accounts[~signed]]),
           "interactions": pd.concat([interactions[created], interactions[~created]]),
           "mrr_history": pd.concat([mrr[months], mrr[~months]])}
    return old, new


def _write(folder: Path, frames: dict[str, pd.DataFrame]) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in frames.items():
        paths[name] = folder / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    return paths


def _build(paths: dict[str, Path], db: Path, settings: BuildSettings | None = None, incremental: bool = False):
    return build_database(paths["accounts"], paths["interactions"], db, mrr_history=paths["mrr_history"],
                          settings=settings or BuildSettings(fit_models=False), incremental=incremental)


def _refresh(folder: Path, name: str, before: dict, after: dict) -> tuple[dict[str, Path], object]:
    """A build of the inputs `before` refreshed with `after`, written over the same files as an export overwrites
    its own: the input paths and the refresh's BuildResult."""
    inputs = _write(folder / "inputs", before)
    _build(inputs, folder / name)
    _write(folder / "inputs", after)
    return inputs, _build(inputs, folder / name, incremental=True)


def _differences(left: Path, right: Path) -> list[str]:
    """Every table of either database that is not the same in the other (rows in any order, floats to 1e-12
    relative; build_info names the build, so it is left out)."""
    a = duckdb.connect(str(left), read_only=True)
    b = duckdb.connect(str(right), read_only=True)
    try:
        names_a = {r[0] for r in a.sql("select table_name from duckdb_tables()").fetchall()}
        names_b = {r[0] for r in b.sql("select table_name from duckdb_tables()").fetchall()}
        problems = [f"{name}: only in one" for name in sorted(names_a ^ names_b)]
        for name in sorted((names_a & names_b) - {"build_info"}):
            x = a.sql(f'select * from "{name}" order by all').df()
            y = b.sql(f'select * from "{name}" order by all').df()
            for frame in (x, y):
                for column in frame.columns[frame.dtypes == object]:
                    frame[column] = frame[column].map(lambda v: FITTED_AT.sub("", v) if isinstance(v, str) else v)
            try:
                pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=1e-12, atol=1e-12)
            except AssertionError as error:
                problems.append(f"{name}: {str(error)[:300]}")
        return problems
    finally:
        a.close()
        b.close()


@pytest.fixture(scope="module")
def week(small_demo_database):
    """The small demo as exported a week before its end, and as exported at its end, with a ticket arriving 100
    days late, a churn date, a rating and an MRR figure corrected on accounts that churned long before, an account that
    churned two days before the first export with a ticket resolved the day before (whether the customer came back
    about it was not yet known then: the second export tells), and rejected rows."""
    _, demo = small_demo_database
    full = _frames(demo)
    last = max(pd.to_datetime(full["interactions"].created_at).max(),
               pd.to_datetime(full["interactions"].resolved_at.replace("", None)).max())
    cut = last.normalize() - timedelta(days=6)
    old, new = _as_known_at(full, cut)
    late = new["interactions"].iloc[[len(old["interactions"]) // 2]].copy()
    created = cut - timedelta(days=100)
    late["interaction_id"] = "LATE-1"
    late["created_at"] = str(created)
    late["first_response_at"] = str(created + timedelta(hours=30))
    late["resolved_at"] = str(created + timedelta(days=2))
    new["interactions"] = pd.concat([new["interactions"], late])
    accounts = new["accounts"]
    churned = accounts.index[(accounts.churn_date != "") & _before(accounts.churn_date, cut - timedelta(days=200))]
    accounts.loc[churned[0], "churn_date"] = str((pd.Timestamp(accounts.loc[churned[0], "churn_date"])
                                                  + timedelta(days=20)).date())
    closing = accounts.loc[churned[1], "account_id"]
    for frame in (old["accounts"], accounts):
        frame.loc[frame.account_id == closing, "churn_date"] = str((cut - timedelta(days=2)).date())
    ticket = old["interactions"].iloc[[0]].copy()
    ticket["interaction_id"], ticket["account_id"] = "CLOSING-1", closing
    ticket["created_at"] = str(cut - timedelta(days=4))
    ticket["first_response_at"] = str(cut - timedelta(days=4) + timedelta(hours=1))
    ticket["resolved_at"] = str(cut - timedelta(days=3))
    earlier = len(old["interactions"])
    old["interactions"] = pd.concat([old["interactions"], ticket])
    new["interactions"] = pd.concat([new["interactions"].iloc[:earlier], ticket, new["interactions"].iloc[earlier:]])
    for frame in (old, new):  # one label per row: the copies above repeat theirs
        frame["interactions"] = frame["interactions"].reset_index(drop=True)
    # rows the build rejects, in both exports: a severity it does not know and a created_at it cannot read on an
    # account long closed (whose rejects the refresh reuses), and a ticket without an account (read again)
    quiet = accounts.loc[churned[2], "account_id"]
    for frame in (old["interactions"], new["interactions"]):
        rows = frame.index[frame.account_id == quiet]
        frame.loc[rows[0], "severity"] = "sev9"
        frame.loc[rows[1], "created_at"] = "not a date"
        frame.loc[frame.index[5], "account_id"] = ""
    # a rating corrected on an old ticket of another closed account (recomputed whole)
    old_ticket = new["interactions"].index[new["interactions"].account_id == accounts.loc[churned[4], "account_id"]][0]
    new["interactions"].loc[old_ticket, "csat"] = "1"
    # an MRR figure corrected on another closed account
    mrr = new["mrr_history"]
    corrected = mrr.index[mrr.account_id == accounts.loc[churned[3], "account_id"]][0]
    mrr.loc[corrected, "mrr"] = str(float(mrr.loc[corrected, "mrr"]) + 10)
    return cut, old, new


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory, week):
    """A build of the earlier export refreshed with the later one (models fitted), and a full build of the later."""
    _, old, new = week
    folder = tmp_path_factory.mktemp("refresh")
    settings = BuildSettings()
    inputs = _write(folder / "inputs", old)
    _build(inputs, folder / "refreshed.duckdb", settings)
    previous_digest = hashlib.sha256((folder / "refreshed.duckdb").read_bytes()).hexdigest()
    _write(folder / "inputs", new)
    result = _build(inputs, folder / "refreshed.duckdb", settings, incremental=True)
    _build(inputs, folder / "full.duckdb", settings)
    return folder, inputs, result, previous_digest


def test_a_week_of_new_data_refreshes_to_the_tables_of_a_full_build(refreshed):
    folder, _, result, _ = refreshed
    assert result.refresh.startswith("Incremental refresh"), result.refresh
    assert _differences(folder / "refreshed.duckdb", folder / "full.duckdb") == []
    con = duckdb.connect(str(folder / "refreshed.duckdb"), read_only=True)
    try:  # the rejects the week planted are there, reused or read again
        columns = con.sql("select \"column\" from rejected_rows where source = 'interactions'").fetchall()
        named = {r[0] for r in columns}
    finally:
        con.close()
    assert {"severity", "created_at", "account_id"} <= named


def test_the_refresh_recomputes_a_part_of_the_interactions(refreshed):
    _, _, result, _ = refreshed
    recomputed, total = (int(n.replace(",", "")) for n in
                         re.search(r"recomputed ([\d,]+) of ([\d,]+) interactions", result.refresh).groups())
    assert 0 < recomputed < total / 2


def test_a_refresh_of_a_refresh_still_equals_a_full_build(refreshed, week, small_demo_database, tmp_path):
    """Three more days on top of the refreshed build: the digests a refresh stores serve the next one."""
    folder, _, _, _ = refreshed
    _, demo = small_demo_database
    cut, _, _ = week
    inputs, first = _refresh(tmp_path, "chain.duckdb", *_as_known_at(_frames(demo), cut + timedelta(days=3)))
    assert first.refresh.startswith("Incremental"), first.refresh
    _write(tmp_path / "inputs", _frames(demo))
    result = _build(inputs, tmp_path / "chain.duckdb", incremental=True)
    assert result.refresh.startswith("Incremental"), result.refresh
    _build(inputs, tmp_path / "full.duckdb")
    assert _differences(tmp_path / "chain.duckdb", tmp_path / "full.duckdb") == []


def test_a_removed_row_builds_whole_and_says_why(week, tmp_path):
    _, old, new = week
    interactions = new["interactions"]
    inputs, result = _refresh(tmp_path, "removed.duckdb", old,
                              {**new, "interactions": interactions.drop(interactions.index[10])})
    assert result.refresh.startswith("Full build, not a refresh:"), result.refresh
    assert "recomputed" in result.refresh
    _build(inputs, tmp_path / "full.duckdb")
    assert _differences(tmp_path / "removed.duckdb", tmp_path / "full.duckdb") == []


def test_a_later_as_of_date_on_the_same_files_refreshes_to_a_full_build(week, tmp_path):
    """The same export built as of a week before its end (the rows after it rejected as after the as-of date, the
    times after it emptied), then refreshed as of its end: the rows the earlier date held back now count. An as-of
    date moved back builds whole."""
    cut, _, new = week
    inputs = _write(tmp_path / "inputs", new)
    earlier, later = cut.date(), (cut + timedelta(days=6)).date()
    _build(inputs, tmp_path / "dated.duckdb", BuildSettings(fit_models=False, as_of=earlier))
    result = _build(inputs, tmp_path / "dated.duckdb", BuildSettings(fit_models=False, as_of=later), incremental=True)
    assert result.refresh.startswith("Incremental"), result.refresh
    _build(inputs, tmp_path / "full.duckdb", BuildSettings(fit_models=False, as_of=later))
    assert _differences(tmp_path / "dated.duckdb", tmp_path / "full.duckdb") == []
    back = _build(inputs, tmp_path / "dated.duckdb", BuildSettings(fit_models=False, as_of=earlier), incremental=True)
    assert f"the as-of date {earlier} is before the previous build's ({later})" in back.refresh


def test_an_as_of_date_in_a_later_month_counts_every_row_digest_again(week, tmp_path):
    """A refresh keeps the digests it compared for its own record only while the month from which interactions count
    by month stays put: an as-of date in the next month moves it, and the record is made from every row again (the
    same digests as a full build's; a reused digest would count recent rows under no month). The rows the earlier
    as-of date rejected count now though the file is the same: accounts that signed up since, and an account whose
    MRR history starts in the later month, whose figure is now carried back over its earlier months."""
    cut, _, new = week
    later = (cut + timedelta(days=6)).date()
    earlier = later.replace(day=1) - timedelta(days=1)
    frames = {name: frame.copy() for name, frame in new.items()}
    accounts, mrr = frames["accounts"], frames["mrr_history"]
    month = pd.to_datetime(mrr.month)
    long_active = accounts.account_id[_before(accounts.signup_date, pd.Timestamp(earlier) - timedelta(days=90))
                                      & (accounts.churn_date == "")]
    account = mrr.account_id[(month == pd.Timestamp(later.replace(day=1))) & mrr.account_id.isin(long_active)].iloc[0]
    keep = (mrr.account_id != account) | (month > pd.Timestamp(earlier))
    frames["mrr_history"] = mrr[keep].reset_index(drop=True)
    frames["mrr_history"].loc[frames["mrr_history"].account_id == account, "mrr"] = "12345.0"
    inputs = _write(tmp_path / "inputs", frames)
    _build(inputs, tmp_path / "dated.duckdb", BuildSettings(fit_models=False, as_of=earlier))
    result = _build(inputs, tmp_path / "dated.duckdb", BuildSettings(fit_models=False, as_of=later), incremental=True)
    assert result.refresh.startswith("Incremental"), result.refresh
    with duckdb.connect(str(tmp_path / "dated.duckdb"), read_only=True) as con:
        assert con.execute("select settled_before from refresh_basis").fetchone()[0] > settled_before(earlier)
    _build(inputs, tmp_path / "full.duckdb", BuildSettings(fit_models=False, as_of=later))
    assert _differences(tmp_path / "dated.duckdb", tmp_path / "full.duckdb") == []


def test_rows_removed_from_the_end_build_whole(week, tmp_path):
    _, old, _ = week
    _, result = _refresh(tmp_path, "shorter.duckdb", old, {**old, "interactions": old["interactions"].iloc[:-5]})
    assert "fewer than the" in result.refresh and "rows were removed" in result.refresh


def test_without_a_previous_database_or_with_other_settings_the_build_is_whole(week, tmp_path):
    _, old, _ = week
    inputs = _write(tmp_path / "inputs", old)
    first = _build(inputs, tmp_path / "new.duckdb", incremental=True)
    assert first.refresh == f"Full build, not a refresh: there is no previous database at {tmp_path / 'new.duckdb'}."
    moved = _write(tmp_path / "elsewhere", old)
    elsewhere = _build(moved, tmp_path / "new.duckdb", incremental=True)
    assert "is not the previous build's file" in elsewhere.refresh
    other = _build(moved, tmp_path / "new.duckdb", BuildSettings(fit_models=False, repeat_contact_days=14),
                   incremental=True)
    assert "repeat_contact_days differs" in other.refresh
    con = duckdb.connect(str(tmp_path / "new.duckdb"))
    try:  # as if another DuckDB had made it: its hashes, and so its digests, may differ
        con.execute("update build_info set duckdb_version = '0.9.2'")
    finally:
        con.close()
    older = _build(moved, tmp_path / "new.duckdb", BuildSettings(fit_models=False, repeat_contact_days=14),
                   incremental=True)
    assert "with DuckDB 0.9.2" in older.refresh


def test_a_failed_refresh_leaves_the_previous_database_as_it_was(refreshed):
    folder, inputs, _, _ = refreshed
    database = folder / "refreshed.duckdb"
    before = hashlib.sha256(database.read_bytes()).hexdigest()
    good = inputs["accounts"].read_text()
    inputs["accounts"].write_text("id,signed\n1,2024-01-01\n")
    try:
        with pytest.raises(InputError):
            _build(inputs, database, incremental=True)
    finally:
        inputs["accounts"].write_text(good)
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before
    assert not list(folder.glob(".refreshed.duckdb.building-*"))


def test_the_plan_can_be_refreshed():
    """No step after the panel reads a working table a refresh holds only in part, and the load report is the one
    staged table made again once the previous rows are merged."""
    plan = read_plan()
    assert refresh_problems(plan) == []
    assert [s.name for s in remade_steps(plan)] == ["load_report"]


def test_a_mart_reading_the_spans_a_refresh_narrows_is_a_problem_of_the_plan(tmp_path):
    """A refresh keeps only the account-month spans it recomputes once the panel is made from them: a later step
    reading them would count only those, so the plan names it."""
    sql = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql)
    (sql / "40_marts" / "spans_by_month.sql").write_text(
        "-- grain: one row per calendar month: its account-month spans\n-- kind: table\n-- engines: duckdb\n"
        "select month_start, count(*) as n_spans from account_month_spans group by month_start\n", encoding="utf-8")
    assert refresh_problems(plan_of(sql)) == [
        "spans_by_month reads account_month_spans after a refresh keeps only the spans it recomputes"]
