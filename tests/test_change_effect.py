"""Evaluating a past change: difference-in-differences of the monthly churn hazard, on panels with a planted change
(and without one), on a panel whose groups drift apart before the change, and on a real build."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipelines.models.change_evaluation import pre_trend_verdict
from pipelines.models.change_effect import (ChangeEffect, ChangeEffectError, accounts_kept, expected_from_drivers,
                                           kept_a_year, service_change,
                                           read_change_panel)

START = pd.Timestamp("2023-07-01")
CHANGE = date(2025, 7, 1)  # month 24 of 36


def planted_panel(seed: int, hazard_ratio: float = 0.7, accounts: int = 3000, months: int = 36,
                  change_month: int = 24, drift: float = 0.0) -> pd.DataFrame:
    """Accounts signed up over the two years before the window and during it; a monthly hazard falling with tenure,
    with a season, 1.3 times higher in the reached group, times `hazard_ratio` for the reached group from
    `change_month`, and times exp(drift × (month − change_month)) for it throughout (a pre-existing trend)."""
    rng = np.random.default_rng(seed)
    signup = rng.integers(-24, months - 1, accounts)
    reached = rng.random(accounts) < 0.4
    alive = np.ones(accounts, dtype=bool)
    rows = []
    for month in range(months):
        at_risk = alive & (signup <= month)
        tenure = month - signup
        hazard = (0.03 * np.exp(-0.03 * tenure) + 0.006) * (1 + 0.25 * np.sin(2 * np.pi * month / 12))
        hazard = hazard * np.where(reached, 1.3 * np.exp(drift * (month - change_month)), 1.0)
        hazard = hazard * np.where(reached & (month >= change_month), hazard_ratio, 1.0)
        churned = at_risk & (rng.random(accounts) < 1 - np.exp(-hazard))
        index = np.flatnonzero(at_risk)
        rows.append(pd.DataFrame({"account_id": index, "month_start": START + pd.DateOffset(months=month),
                                  "tenure_days": np.maximum(tenure[index], 0) * 30, "churned": churned[index].astype(int),
                                  "is_treated": reached[index]}))
        alive &= ~churned
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("truth", [0.7, 1.0])
def test_the_hazard_ratio_of_a_planted_change_is_found_within_its_interval(truth):
    covered, estimates = 0, []
    for seed in range(6):
        fitted = ChangeEffect(CHANGE).fit(planted_panel(seed, hazard_ratio=truth))
        ratio = fitted.hazard_ratio_
        covered += ratio["ci_lower"] <= truth <= ratio["ci_upper"]
        estimates.append(ratio["log_estimate"])
    assert covered >= 5
    # the mean log ratio over the seeds is within two of its own standard errors of the truth
    assert abs(np.mean(estimates) - np.log(truth)) < 2 * np.std(estimates) / np.sqrt(len(estimates)) + 0.02


def test_the_event_study_shows_flat_months_before_and_the_drop_after():
    fitted = ChangeEffect(CHANGE).fit(planted_panel(1, hazard_ratio=0.6, accounts=8000))
    table = fitted.event_study_.set_index("months_from_change")
    assert -1 not in table.index  # the reference month
    assert table.loc[table.index <= -2, "estimate"].between(0.7, 1.4).all()
    assert table.loc[table.index >= 0, "estimate"].mean() < 0.8
    assert fitted.pre_trend_p_value_ > 0.05 and "No sign" in pre_trend_verdict("did", fitted.pre_trend_p_value_)
    assert all(p["ci_lower"] <= 1 <= p["ci_upper"] for p in fitted.placebos_) and len(fitted.placebos_) == 2


def test_groups_already_drifting_apart_are_caught_by_the_pre_trend_test_and_the_placebos():
    """No change at all, but the reached group's hazard falls 2% a month relative to the others throughout: the naive
    difference-in-differences finds an 'effect'; the pre-trend test and a placebo say not to believe it."""
    fitted = ChangeEffect(CHANGE).fit(planted_panel(2, hazard_ratio=1.0, drift=-0.03, accounts=8000))
    assert fitted.hazard_ratio_["ci_upper"] < 1  # the naive answer is wrong
    assert fitted.pre_trend_p_value_ < 0.10 and "already drifting apart" in pre_trend_verdict(
        "did", fitted.pre_trend_p_value_)
    assert any(p["ci_upper"] < 1 for p in fitted.placebos_)


def test_a_change_that_reached_everyone_or_no_month_after_is_refused():
    panel = planted_panel(3, accounts=500)
    with pytest.raises(ChangeEffectError, match="interrupted time series"):
        ChangeEffect(CHANGE).fit(panel.assign(is_treated=True))
    with pytest.raises(ChangeEffectError, match="no whole month on both sides"):
        ChangeEffect(date(2030, 1, 1)).fit(panel)


def test_a_change_mid_month_leaves_that_month_out(db):
    panel = read_change_panel(db, ["region=North America"])
    fitted = ChangeEffect(date(2025, 9, 15)).fit(panel)
    reached = db.execute("select count(*) from account_survival where region = 'North America'").fetchone()[0]
    assert fitted.counts_["treated_accounts"] <= reached and fitted.counts_["treated_accounts"] > 0.9 * reached
    # the demo plants no change in North America: its interval holds 1 (a regression check on a real build)
    assert fitted.hazard_ratio_["ci_lower"] <= 1 <= fitted.hazard_ratio_["ci_upper"]


def test_the_first_stage_finds_how_far_the_service_measure_moved():
    """First response halved for the reached accounts from the change: the measure's difference-in-differences says
    about −50%, with the averages before and after for both groups."""
    panel = planted_panel(4, accounts=3000)
    rng = np.random.default_rng(4)
    after = panel.is_treated & (pd.to_datetime(panel.month_start) >= pd.Timestamp(CHANGE))
    panel["first_response_hours_median"] = 4.0 * np.where(after, 0.5, 1.0) * np.exp(rng.normal(0, 0.4, len(panel)))
    panel["mrr"] = 100.0
    fitted = ChangeEffect(CHANGE).fit(panel)
    [row] = service_change(fitted.rows_, panel).to_dict("records")
    assert row["factor"] == "first_response_hours" and row["scale"] == "relative"
    assert row["ci_lower"] <= -0.5 <= row["ci_upper"] and row["ci_upper"] - row["ci_lower"] < 0.05
    assert row["reached_after"] < 0.6 * row["reached_before"] and 0.9 < row["others_after"] / row["others_before"] < 1.1


def test_the_accounts_kept_since_the_change_cover_what_it_kept_in_the_simulation():
    """The same accounts and random draws with and without the change: the churns it prevented among the reached
    accounts are the truth the estimate and its interval are held to."""
    with_change, without = planted_panel(5, 0.6, accounts=10_000), planted_panel(5, 1.0, accounts=10_000)

    def churns_after(panel):
        reached = panel[panel.is_treated & (pd.to_datetime(panel.month_start) >= pd.Timestamp(CHANGE))]
        return reached.churned.sum()

    truth = churns_after(without) - churns_after(with_change)
    fitted = ChangeEffect(CHANGE).fit(with_change.assign(mrr=50.0))
    kept_ = accounts_kept(fitted.rows_, fitted.hazard_ratio_)
    kept = kept_["accounts_since"]
    assert kept["ci_lower"] <= truth <= kept["ci_upper"], (truth, kept)
    assert kept_["arr_since"]["estimate"] == pytest.approx(600.0 * kept["estimate"])
    assert 0 < kept["ci_lower"] < kept["estimate"] < kept["ci_upper"]


def test_the_command_gives_the_json_the_issue_promises(small_demo_database, capsys):
    import json

    from pipelines.cli import main

    assert main(["evaluate", "--db", str(small_demo_database[0]), "--name", "EMEA hires", "--date", "2025-07-01",
                 "--treated", "region=EMEA", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"name", "date", "design", "treated", "accounts", "service_change", "hazard_ratio", "accounts_kept",
            "arr_kept", "pre_trend", "placebos", "expected_from_drivers", "notes"} <= set(result)
    assert result["design"] == "difference-in-differences" and result["treated"] == ["region=EMEA"]
    ratio = result["hazard_ratio"]
    assert ratio["ci_lower"] < ratio["estimate"] < ratio["ci_upper"]
    kept = result["accounts_kept"]["since_change"]
    assert kept["ci_lower"] < kept["estimate"] < kept["ci_upper"]
    assert {row["factor"] for row in result["service_change"]} >= {"first_response_hours", "csat"}
    assert result["notes"][0] == result["verdict"] and "if both groups would otherwise have moved" in result["verdict"]


def test_the_drivers_models_expectation_takes_the_measured_change_back_among_the_reached_accounts(db):
    """A first response measured 50% faster for the reached accounts: the drivers model's expectation is the what-if
    that doubles it back among them (accounts it would lose a year = accounts the change keeps a year), set beside
    what the change kept, with a verdict; a change that moved no measure expects nothing."""
    panel = read_change_panel(db, ["region=EMEA"])
    fitted = ChangeEffect(date(2025, 7, 1)).fit(panel)
    reached = panel.account_id[panel.is_treated].unique()
    kept = {**accounts_kept(fitted.rows_, fitted.hazard_ratio_), **kept_a_year(db, fitted.hazard_ratio_, reached)}
    nothing = expected_from_drivers(db, pd.DataFrame([]), kept, reached)
    assert nothing["accounts_kept_per_year"] is None and "No service measure moved measurably" in nothing["sentence"]

    measured = pd.DataFrame([{"factor": "first_response_hours", "scale": "relative", "estimate": -0.5,
                              "ci_lower": -0.55, "ci_upper": -0.45}])
    expected = expected_from_drivers(db, measured, kept, reached)
    assert expected["changes"] == [{"factor": "first_response_hours", "undo": "+100.0%"}]
    kept = expected["accounts_kept_per_year"]
    assert 0 < kept["ci_lower"] < kept["estimate"] < kept["ci_upper"]  # slower first response loses accounts
    assert expected["consistent"] in (True, False) and "drivers model expected about" in expected["sentence"]


def test_the_demos_planted_change_is_found_and_the_drivers_model_saw_it_coming(demo_database, capsys):
    """The default demo plants a change (planted_effects.json, planted_change): from its date every EMEA ticket is
    answered twice as fast, and churn follows through the planted hazard. The evaluation finds first response halved,
    a hazard ratio and accounts kept whose intervals hold the truth, and the drivers model's expectation agreeing
    with what the change did (and holding the true yearly figure)."""
    import json

    from pipelines.cli import main

    db_path, demo = demo_database
    truth = json.loads(demo.planted_effects.read_text())["planted_change"]
    # the change as the demo's events file records it
    assert main(["evaluate", "--db", str(db_path), "--name", truth["name"], "--events", str(demo.events),
                 "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["design"] == "difference-in-differences" and result["date"] == truth["date"]
    assert result["treated"] == truth["treated"]
    first_response = next(row for row in result["service_change"] if row["factor"] == "first_response_hours")
    assert first_response["moved"] and first_response["ci_lower"] <= -0.5 + 0.03 and first_response["ci_upper"] < -0.4
    ratio = result["hazard_ratio"]
    assert ratio["ci_lower"] <= truth["hazard_ratio"] <= ratio["ci_upper"] and ratio["ci_upper"] < 1
    kept = result["accounts_kept"]["since_change"]
    assert kept["ci_lower"] <= truth["accounts_kept_since_change"] <= kept["ci_upper"] and kept["ci_lower"] > 0
    per_year = result["accounts_kept"]["per_year"]
    assert per_year["ci_lower"] <= truth["accounts_kept_per_year"] <= per_year["ci_upper"]
    expected = result["expected_from_drivers"]
    assert [change["factor"] for change in expected["changes"]] == ["first_response_hours"]  # breaches follow it
    assert expected["consistent"] and "Consistent" in expected["sentence"]
    model = expected["accounts_kept_per_year"]
    assert model["ci_lower"] <= truth["accounts_kept_per_year"] <= model["ci_upper"]


def test_a_year_ahead_is_the_drivers_models_chance_of_churn_raised_to_what_it_would_be_without_the_change(db):
    """kept_a_year: with a ratio of 1 nothing is kept; with 0.5 each reached account's chance P of churning in a year
    becomes 1 − (1 − P)^2 without the change, so what is kept is Σ P(1 − P), and ARR the same weighted by 12 × MRR;
    the ends of the interval come from the ratio's."""
    from pipelines.models.drivers import ServiceDrivers
    from pipelines.models.risk import AccountRisk

    reached = [row[0] for row in db.execute("select account_id from account_survival where region = 'EMEA'").fetchall()]
    none = kept_a_year(db, {"estimate": 1.0, "ci_lower": 1.0, "ci_upper": 1.0}, reached)
    assert none["accounts_per_year"] == {"estimate": 0.0, "ci_lower": 0.0, "ci_upper": 0.0}
    halved = kept_a_year(db, {"estimate": 0.5, "ci_lower": 0.4, "ci_upper": 0.8}, reached)
    risk = AccountRisk(horizon_days=365).fit(db, drivers=ServiceDrivers.from_database(db)).accounts_
    chance = risk[risk.account_id.isin(reached)]
    assert halved["reached_active_now"] == len(chance) > 0
    p = chance.churn_probability
    assert halved["accounts_per_year"]["estimate"] == pytest.approx(float((p * (1 - p)).sum()), rel=1e-9)
    assert halved["arr_per_year"]["estimate"] == pytest.approx(float((p * (1 - p) * chance.arr).sum()), rel=1e-9)
    kept = halved["accounts_per_year"]
    assert 0 < kept["ci_lower"] < kept["estimate"] < kept["ci_upper"]
