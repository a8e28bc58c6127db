"""The events file: recorded support changes (name, date, treated), one row per step of a rollout, and the design
each rollout allows."""

from __future__ import annotations

from datetime import date

import pytest

from pipelines.change_events import find_event, read_events
from pipelines.errors import InputError
from pipelines.models.change_effect import ChangeEffectError
from pipelines.models.change_evaluation import choose_design


def _file(tmp_path, text: str):
    path = tmp_path / "events.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_events_groups_the_steps_of_a_rollout_and_reads_every_account(tmp_path):
    path = _file(tmp_path, "name,date,treated\nHires,2025-09-01,region=APAC\nHires,2025-03-01,region=EMEA and "
                           "plan=Growth\nNew SLA policy,2024-11-15,\n")
    hires, policy = read_events(path)
    assert hires.name == "Hires" and hires.is_staggered and not hires.reached_everyone
    assert [step.start for step in hires.rollouts] == [date(2025, 3, 1), date(2025, 9, 1)]  # earliest first
    assert hires.rollouts[0].treated == ("region=EMEA", "plan=Growth")
    assert policy.reached_everyone and policy.start == date(2024, 11, 15)
    assert [choose_design(e) for e in (hires, policy)] == ["staggered", "its"]
    assert find_event([hires, policy], "Hires", path) is hires


@pytest.mark.parametrize(("text", "row", "column", "words"), [
    ("name,when,treated\nA,2025-01-01,\n", 1, "date", "header lacks date"),
    ("name,date,treated\n,2025-01-01,region=EMEA\n", 2, "name", "needs a name"),
    ("name,date,treated\nA,2025-01-01,region=EMEA\nA,01/03/2025,region=APAC\n", 3, "date", "is not a date"),
    ("name,date,treated\nA,2025-01-01,region=EMEA\nA,2025-01-01,region=APAC\n", 3, "date", "two steps"),
    ("name,date,treated\nA,2025-01-01,region=EMEA\nA,2025-06-01,\n", 3, "treated", "every account in one step"),
])
def test_a_bad_events_file_names_the_row_and_column(tmp_path, text, row, column, words):
    with pytest.raises(InputError, match=words) as raised:
        read_events(_file(tmp_path, text))
    assert (raised.value.row, raised.value.column) == (row, column)
    assert raised.value.path.endswith("events.csv")


def test_an_unknown_name_lists_the_names_the_file_has(tmp_path):
    path = _file(tmp_path, "name,date,treated\nHires,2025-03-01,region=EMEA\n")
    with pytest.raises(InputError, match="no change called 'Chat'; the file has 'Hires'"):
        find_event(read_events(path), "Chat", path)


def test_a_design_the_rollout_does_not_allow_is_refused_with_the_one_that_fits(tmp_path):
    one_group, everyone, staggered = read_events(_file(
        tmp_path, "name,date,treated\nA,2025-03-01,region=EMEA\nB,2025-03-01,\nC,2025-03-01,region=EMEA\n"
                  "C,2025-09-01,region=APAC\n"))
    assert choose_design(one_group) == "did" and choose_design(one_group, "synthetic") == "synthetic"
    with pytest.raises(ChangeEffectError, match="no comparison group; use interrupted time series"):
        choose_design(everyone, "did")
    with pytest.raises(ChangeEffectError, match="in steps on several dates; use staggered"):
        choose_design(staggered, "did")
    with pytest.raises(ChangeEffectError, match="unknown design"):
        choose_design(one_group, "regression")
