"""Churn by cause: cause-specific Cox models (the other causes censored) against lifelines, and on a world where
support moves only voluntary churn, the model of each cause finds what was planted while the model of all churn
does not."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from lifelines import CoxTimeVaryingFitter

from pipelines.models.drivers import ServiceDrivers, build_design, panel_rows
from pipelines.models.factor_effects import FactorEffects

from worlds import World, generate, panel_database, true_churn

EFFECT = 1.35
# a payment-failure hazard a little under half the voluntary one: about a third of churn is involuntary
WORLD = World(effect=EFFECT, involuntary=0.009 / 30, n_accounts=3000, months=30)


@pytest.fixture(scope="module")
def world_con():
    panel, _ = generate(WORLD, seed=3)
    con = panel_database(panel)
    yield con
    con.close()


def test_the_world_has_about_a_third_of_churn_involuntary(world_con):
    causes = dict(world_con.execute("select churn_cause, count(*) from account_months where churned = 1 "
                                    "group by 1").fetchall())
    share = causes["involuntary"] / (causes["involuntary"] + causes["voluntary"])
    assert 0.25 < share < 0.45, causes


@pytest.mark.parametrize("cause", ["voluntary", "involuntary"])
def test_cause_specific_fit_matches_lifelines_with_the_other_causes_censored(world_con, cause):
    """Reference: lifelines CoxTimeVaryingFitter (Efron ties) on the same design, the event being a churn from the
    cause and a churn from any other cause a censoring; tolerance 1e-6."""
    ours = ServiceDrivers(factors=["first_response_hours", "high_priority_share"], covariates=["plan"],
                          cause=cause, max_accounts=None).fit(world_con)
    panel = panel_rows(world_con, ["plan"])
    kinds = {"plan": "categorical"}
    design = build_design(panel, ["first_response_hours", "high_priority_share"], ["plan"], kinds)
    frame = design.X.copy()
    frame.columns = [f"x{i}" for i in range(frame.shape[1])]
    frame["id"] = panel.account_id.to_numpy()
    frame["start"] = panel.start_day.astype(float).to_numpy()
    frame["stop"] = panel.stop_day.astype(float).to_numpy()
    cause_of = dict(world_con.execute("select account_id, churn_cause from account_months where churned = 1").fetchall())
    frame["event"] = ((panel.churned == 1) & (panel.account_id.map(cause_of) == cause)).astype(int).to_numpy()
    assert 0 < frame.event.sum() < panel.churned.sum()
    reference = CoxTimeVaryingFitter().fit(frame, id_col="id", start_col="start", stop_col="stop", event_col="event",
                                           fit_options={"precision": 1e-10})
    assert ours.model_.n_events_ == frame.event.sum()
    np.testing.assert_allclose(ours.model_.params_.to_numpy(), reference.params_.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(ours.model_.standard_errors_.to_numpy(), reference.standard_errors_.to_numpy(),
                               atol=1e-6)
    assert ours.model_info_["churn_cause"] == cause and "other causes censored" in ours.model_info_["method"]


def _first_response(fitted: FactorEffects):
    return fitted.effects_.set_index("term").loc["first_response_hours"]


def test_first_response_moves_voluntary_churn_as_planted_and_involuntary_not_at_all(world_con):
    """The naive answer is wrong here: a model of all churn dilutes the effect with payment failures, which no
    service measure moves. Each cause's own model finds its truth: the planted ratio for voluntary churn, 1 for
    involuntary churn (intervals covering them), and the all-churn estimate falls below the voluntary interval."""
    voluntary = _first_response(FactorEffects(factors=["first_response_hours"], cause="voluntary",
                                              max_accounts=None).fit(world_con))
    involuntary = _first_response(FactorEffects(factors=["first_response_hours"], cause="involuntary",
                                                max_accounts=None).fit(world_con))
    every_churn = _first_response(FactorEffects(factors=["first_response_hours"], max_accounts=None).fit(world_con))
    assert voluntary.ci_lower <= EFFECT <= voluntary.ci_upper, voluntary.to_dict()
    assert involuntary.ci_lower <= 1.0 <= involuntary.ci_upper, involuntary.to_dict()
    assert every_churn.hazard_ratio < voluntary.ci_lower, (every_churn.hazard_ratio, voluntary.ci_lower)
    # the dilution is about the involuntary share of churn: the log ratio shrinks towards 0
    assert math.log(every_churn.hazard_ratio) < 0.85 * math.log(EFFECT)


def test_a_cause_without_churn_says_so(world_con):
    with pytest.raises(ValueError, match="no refund churn among these accounts"):
        ServiceDrivers(factors=["first_response_hours"], covariates=[], cause="refund").fit(world_con)


@pytest.fixture(scope="module")
def world_with_cause_models():
    """The two-cause world with the build's cause models stored, and its truth: each active account's chance of
    churning within the horizon today and with every first response halved (both causes competing)."""
    from pipelines.models.cause_effects import CauseModels, store_cause_models
    from pipelines.models.drivers import store_drivers
    from pipelines.models.factor_effects import store_factor_effects

    world = replace(WORLD, horizon_days=360)
    panel, state = generate(world, seed=5)
    today, halved = true_churn(world, state, seed=105)
    con = panel_database(panel)
    # what the build would hold: each account's cause, and the all-churn tables the cause tables take columns from
    con.execute("create table account_survival as select account_id, max(churned) as churned, "
                "max(churn_cause) as churn_cause from account_months group by account_id")
    store_drivers(con, None, error="not needed here")
    store_factor_effects(con, None, error="not needed here")
    store_cause_models(con, CauseModels(drivers_sample=None, factor_accounts=None).fit(con))
    yield con, float(today.sum() - halved.sum())
    con.close()


def test_cause_whatif_keeps_accounts_only_through_voluntary_churn_and_covers_the_truth(world_with_cause_models):
    from pipelines.models.cause_whatif import CauseWhatIf

    con, kept_true = world_with_cause_models
    whatif = CauseWhatIf([("first_response_hours", "-50%")], horizon_days=360, n_draws=300).fit(con)
    by_cause = {row["cause"]: row for row in whatif.result_["by_cause"]}
    assert set(by_cause) == {"voluntary", "involuntary"}
    assert by_cause["voluntary"]["accounts_kept"]["ci_lower"] > 0
    involuntary = by_cause["involuntary"]["accounts_kept"]
    assert involuntary["ci_lower"] <= 0 <= involuntary["ci_upper"], involuntary
    total = whatif.result_["accounts_kept"]
    assert total["ci_lower"] <= kept_true <= total["ci_upper"], (total, kept_true)
    # the causes compete: the total is the product of surviving each, not the sum of each cause alone
    alone = sum(w.result_["accounts_kept"]["estimate"] for w in whatif.by_cause_.values())
    assert total["estimate"] < alone
    assert sum(row["accounts_kept"]["estimate"] for row in by_cause.values()) == pytest.approx(
        total["estimate"], rel=0.05)


# --- on the demo with planted causes, through a real build ---------------------------------------------------------


@pytest.fixture(scope="module")
def cause_demo(cause_demo_con, cause_demo_database):
    return cause_demo_con, cause_demo_database[1]


def test_the_build_models_each_cause_and_first_response_moves_only_voluntary_churn(cause_demo):
    """Done when: on the demo, first response moves voluntary churn by its planted effect and involuntary churn not
    at all (its interval covering 1)."""
    con, demo = cause_demo
    import json

    causes = json.loads(con.execute("select info_json from model_info where model = 'cause_models'").fetchone()[0])
    assert causes["causes"][:2] == ["voluntary", "involuntary"], causes
    effects = con.execute("select churn_cause, hazard_ratio, ci_lower, ci_upper, n_events from cause_factor_effects "
                          "where term = 'first_response_hours'").df().set_index("churn_cause")
    planted = json.loads(demo.planted_effects.read_text())
    direct = next(e["hazard_ratio"] for e in planted["effects"] if e["factor"] == "first_response_hours")
    voluntary, involuntary = effects.loc["voluntary"], effects.loc["involuntary"]
    # the own model leaves the factor's consequences free (SLA breaches, bad interactions), so it estimates the total
    # effect: at least the planted direct one
    assert 1.0 < voluntary.ci_lower and direct <= voluntary.ci_upper, voluntary.to_dict()
    assert involuntary.ci_lower <= 1.0 <= involuntary.ci_upper, involuntary.to_dict()
    # the churns each model counts are the build's churns of that cause
    counts = dict(con.execute("select churn_cause, count(*) from account_survival where churned = 1 group by 1")
                  .fetchall())
    assert int(voluntary.n_events) == counts["voluntary"] and int(involuntary.n_events) == counts["involuntary"]


def test_drivers_and_whatif_commands_show_each_cause(cause_demo_database, capsys):
    from pipelines.cli import main

    db = str(cause_demo_database[0])
    assert main(["drivers", "--db", db, "--by-cause", "--factors", "first_response_hours,reopen_rate"]) == 0
    table = capsys.readouterr().out
    assert "voluntary" in table and "involuntary" in table and "first_response_hours" in table
    assert main(["drivers", "--db", db, "--by-cause", "--factors", "first_response_hours", "--format", "csv"]) == 0
    import io

    import pandas as pd

    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert {"voluntary", "involuntary"} <= set(frame.churn_cause)
    assert main(["whatif", "--db", db, "--by-cause", "--factor", "first_response_hours", "--change", "-50%",
                 "--draws", "200", "--format", "json"]) == 0
    import json

    result = json.loads(capsys.readouterr().out)
    by_cause = {row["cause"]: row["accounts_kept"] for row in result["by_cause"]}
    assert by_cause["voluntary"]["ci_lower"] > 0
    assert by_cause["involuntary"]["ci_lower"] <= 0 <= by_cause["involuntary"]["ci_upper"]
    # the demo's own truth, both causes competing (planted_effects.json)
    truth = json.loads(cause_demo_database[1].planted_effects.read_text())["true_whatif"]
    truth = truth if isinstance(truth, dict) else truth[0]
    assert result["accounts_kept"]["ci_lower"] <= truth["accounts_kept"] <= result["accounts_kept"]["ci_upper"]
    print("cause what-if on the 3,000-account demo:", result["accounts_kept"], "truth", truth["accounts_kept"],
          {row["cause"]: (round(row["expected_churned_today"], 1), round(row["expected_churned_with_change"], 1))
           for row in result["by_cause"]}, {c: (v["expected_churned_today"], v["expected_churned_with_change"])
                                             for c, v in truth["by_cause"].items()})
    assert main(["whatif", "--db", db, "--by-cause", "--factor", "first_response_hours", "--change", "-50%",
                 "--draws", "200"]) == 0
    assert "through voluntary churn" in capsys.readouterr().out


def test_by_cause_commands_say_so_when_the_data_give_no_reasons(small_demo_database, capsys):
    from pipelines.cli import main

    assert main(["drivers", "--db", str(small_demo_database[0]), "--by-cause"]) == 2
    assert "no churn reasons" in capsys.readouterr().err
    assert main(["whatif", "--db", str(small_demo_database[0]), "--by-cause", "--factor", "first_response_hours",
                 "--change", "-50%"]) == 2
    assert "no churn reasons" in capsys.readouterr().err


def test_one_fit_of_the_whole_adjustment_set_equals_the_last_stability_step(world_con):
    """The cause models skip the stability steps: one fit of each factor's whole adjustment set gives the estimate
    the last step of the steps gives (the same model, Newton started elsewhere)."""
    stepped = FactorEffects(cause="voluntary", max_accounts=None, outcome_models=False).fit(world_con).effects_
    direct = FactorEffects(cause="voluntary", max_accounts=None, outcome_models=False,
                           stability=False).fit(world_con).effects_
    assert list(direct.term) == list(stepped.term) and len(direct) > 0
    np.testing.assert_allclose(direct.coef, stepped.coef, atol=1e-7)
    np.testing.assert_allclose(direct.robust_se, stepped.robust_se, atol=1e-7)
    assert list(direct.adjusted_for) == list(stepped.adjusted_for)
