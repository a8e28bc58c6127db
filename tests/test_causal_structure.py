"""The causal structure file: what the built-in one says, what a bad file is told, that an analyst's file reaches
the build and the app's what-ifs, and that the drivers page gets each uncertain pair's effects under both orders."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest

from dashboard.structure_view import ordering_paragraphs, structure_markdown
from pipelines.cli import main as cli_main
from pipelines.models.causal_structure import (BUILT_IN, BUILT_IN_PATH, SERVICE_FACTORS, CausalStructure,
                                               CausalStructureError, load, recorded)
from pipelines.models.factor_effects import FactorEffects, stored_structure

COMPOSITE_PARTS = {"sla_breach_rate", "handoff_rate", "reopen_rate", "csat"}


def reopens_first(text: str) -> str:
    """The built-in file with reopens before resolution time (an export whose resolution time spans reopens)."""
    text = text.replace('resolution_hours = ["reopen_rate", "repeat_contact_rate", "csat"]',
                        'resolution_hours = ["repeat_contact_rate", "csat"]')
    return text.replace('reopen_rate = ["repeat_contact_rate",', 'reopen_rate = ["resolution_hours", "repeat_contact_rate",')


def test_the_built_in_structure_orders_every_service_factor_and_a_composite_after_its_parts():
    assert BUILT_IN.source == "built-in" and set(BUILT_IN.factors) == set(SERVICE_FACTORS)
    assert set(BUILT_IN.causes("bad_interactions_90d")) == COMPOSITE_PARTS
    assert set(BUILT_IN.causes("credited_bad_interactions_90d")) == COMPOSITE_PARTS | {"bad_interactions_90d"}
    assert BUILT_IN.causes("first_response_hours") == ()
    # first response moves breaches, and through them bad interactions, which its own model must not hold fixed
    assert {"sla_breach_rate", "bad_interactions_90d", "csat", "resolution_hours"} <= BUILT_IN.descendants(
        "first_response_hours")
    assert BUILT_IN.adjustment_set("first_response_hours", ["plan"])["+ upstream service factors"] == []
    (pair,) = BUILT_IN.both_plausible
    assert (pair.first, pair.then) == ("resolution_hours", "reopen_rate")


def test_reversing_an_uncertain_pair_moves_only_that_link():
    (pair, reversed_structure), = BUILT_IN.alternatives()
    assert "reopen_rate" in reversed_structure.causes("resolution_hours")
    assert "resolution_hours" not in reversed_structure.causes("reopen_rate")
    assert set(BUILT_IN.links) ^ set(reversed_structure.links) == {("resolution_hours", "reopen_rate"),
                                                                  ("reopen_rate", "resolution_hours")}
    # the what-if of a reopen change now lets resolution time move with it
    assert "resolution_hours" not in reversed_structure.whatif_terms(["reopen_rate"])
    assert "resolution_hours" in BUILT_IN.whatif_terms(["reopen_rate"])


def test_a_recorded_structure_reads_back_the_same():
    again = CausalStructure.from_dict(json.loads(json.dumps(BUILT_IN.as_dict())))
    assert set(again.links) == set(BUILT_IN.links) and again.both_plausible == BUILT_IN.both_plausible
    assert recorded({"causal_structure": BUILT_IN.as_dict()}).links == again.links


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('csat = ["bad_interactions_90d", "credited_bad_interactions_90d"]\n', ""),
     "does not list csat"),
    (lambda t: t.replace('agent_update_rate = ["csat"]', 'agent_update_rate = ["csat", "agent_mood"]'),
     "unknown service factor 'agent_mood'"),
    (lambda t: t.replace('repeat_contact_rate = []', 'repeat_contact_rate = ["first_response_hours"]'),
     "go round in a circle: "),
    (lambda t: t.replace('factors = ["resolution_hours", "reopen_rate"]', 'factors = ["first_response_hours", "handoff_rate"]'),
     "are not linked in [causes]"),
    (lambda t: t.replace("[causes]", "[causes"), "is not valid TOML"),
    (lambda t: t + '\n[extra]\nx = 1\n', "unknown section 'extra'"),
])
def test_a_bad_structure_file_is_told_what_to_fix(tmp_path, edit, message):
    path = tmp_path / "structure.toml"
    path.write_text(edit(BUILT_IN_PATH.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(CausalStructureError) as raised:
        load(path)
    assert str(path) in str(raised.value) and message in str(raised.value)


def test_an_uncertain_pair_whose_reverse_makes_a_circle_is_refused(tmp_path):
    """Resolution time -> repeat contacts -> reopens: reversing resolution time and reopens would close a circle."""
    text = BUILT_IN_PATH.read_text(encoding="utf-8").replace(
        'repeat_contact_rate = []', 'repeat_contact_rate = ["reopen_rate"]').replace(
        'reopen_rate = ["repeat_contact_rate", ', 'reopen_rate = [')
    path = tmp_path / "structure.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CausalStructureError, match="once resolution_hours and reopen_rate are reversed"):
        load(path)


def test_the_cli_refuses_a_bad_structure_before_building_and_keeps_the_previous_database(tmp_path, small_demo_database,
                                                                                         capsys):
    db = tmp_path / "retention.duckdb"
    db.write_bytes(small_demo_database[0].read_bytes())
    before = db.read_bytes()
    bad = tmp_path / "mine.toml"
    bad.write_text("[causes]\nfirst_response_hours = [\"csat\"]\n", encoding="utf-8")
    demo = small_demo_database[1]
    code = cli_main(["build", "--accounts", str(demo.accounts), "--interactions", str(demo.interactions),
                     "--db", str(db), "--causal-structure", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and "mine.toml" in err and "does not list" in err
    assert db.read_bytes() == before


def test_the_build_records_the_analysts_structure_and_the_what_if_reads_it(tmp_path, build_rows):
    """A file with reopens first reaches the build's record, which the app's what-ifs read back; even a build
    whose models could not be fitted says which structure it was given."""
    mine = tmp_path / "reopens_first.toml"
    mine.write_text(reopens_first(BUILT_IN_PATH.read_text(encoding="utf-8")), encoding="utf-8")
    built = build_rows([["a1", "2024-01-01", "", "100", "Starter"]],
                       [["t1", "a1", "2024-02-01T10:00:00", "2024-02-01T11:00:00", "2024-02-02T10:00:00", "normal",
                         "4", "0", "0", "false", "1", "0"]],
                       as_of=date(2024, 6, 30), causal_structure=str(mine))
    structure = stored_structure(built.con)
    assert structure.source == "reopens_first.toml"
    assert "reopen_rate" in structure.causes("resolution_hours")
    assert structure.in_words == "the causal structure in reopens_first.toml"


def test_the_drivers_page_gets_each_uncertain_pair_under_both_orders(demo_con):
    """The build stored resolution time's and reopens' own models under the file's order and reversed; reversed,
    resolution time is adjusted for reopens and reopens are not adjusted for resolution time."""
    orderings = demo_con.execute("select * from factor_orderings").df()
    assert set(orderings.ordering) == {"resolution time before reopen rate", "reopen rate before resolution time"}
    used = orderings[orderings.is_structure_used].set_index("factor")
    other = orderings[~orderings.is_structure_used].set_index("factor")
    assert set(used.index) == set(other.index) == {"resolution_hours", "reopen_rate"}
    assert "reopen rate" not in used.loc["resolution_hours", "adjusted_for"]
    assert "reopen rate" in other.loc["resolution_hours", "adjusted_for"]
    assert "resolution time" in used.loc["reopen_rate", "adjusted_for"]
    assert "resolution time" not in other.loc["reopen_rate", "adjusted_for"]
    # the file's order is the build's own factor model; the reverse is a real refit that moves the estimate
    stored = demo_con.execute("select factor, hazard_ratio from factor_effects "
                              "where factor in ('resolution_hours', 'reopen_rate')").df().set_index("factor")
    pd.testing.assert_series_equal(used.hazard_ratio.sort_index(), stored.hazard_ratio.sort_index(),
                                   check_names=False)
    assert (other.hazard_ratio.sort_index() != used.hazard_ratio.sort_index()).all()
    refit = FactorEffects(factors=["resolution_hours"], structure=BUILT_IN.alternatives()[0][1],
                          outcome_models=False).fit(demo_con)
    assert refit.effects_.hazard_ratio.iloc[0] == pytest.approx(other.loc["resolution_hours", "hazard_ratio"],
                                                                rel=1e-9)


def test_the_methods_notes_show_the_built_in_structure_as_the_file_says():
    methods = (BUILT_IN_PATH.parents[2] / "dashboard" / "methods.md").read_text(encoding="utf-8")
    assert structure_markdown(BUILT_IN) in methods


def test_an_uncertain_order_is_said_in_words_with_whether_it_changes_the_answer(demo_con):
    orderings = demo_con.execute("select * from factor_orderings").df()
    (paragraph,) = ordering_paragraphs(orderings)
    assert paragraph.startswith("**Resolution time and reopen rate**: which comes first is uncertain (when an export")
    for factor in ("resolution_hours", "reopen_rate"):
        rows = orderings[orderings.factor == factor]
        used, other = rows[rows.is_structure_used].iloc[0], rows[~rows.is_structure_used].iloc[0]
        assert (f"hazard ratio {used.hazard_ratio:.2f} ({used.ci_lower:.2f}–{used.ci_upper:.2f}) with {used.ordering} "
                f"(the structure used), {other.hazard_ratio:.2f}") in paragraph
    # an order that moves an interval across 1 is called out
    flipped = orderings.copy()
    flipped.loc[~flipped.is_structure_used, ["ci_lower", "ci_upper"]] = [1.1, 1.3]
    flipped.loc[flipped.is_structure_used, ["ci_lower", "ci_upper"]] = [0.9, 1.2]
    assert ordering_paragraphs(flipped)[0].count("the order changes the answer") == 2
