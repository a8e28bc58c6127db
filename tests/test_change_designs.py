"""The other two change designs on simulated panels: an interrupted time series for a change that reached everyone
(a planted change, month-level shocks that make account-clustered errors far too narrow, a trend that predates the
change) and a synthetic control for one reached group among a few (a planted change, no change, too few donors)."""

from __future__ import annotations

import warnings
from datetime import date

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest

from pipelines.models.change_effect import ChangeEffectError
from pipelines.models.change_its import InterruptedTimeSeries
from pipelines.models.change_synthetic import SyntheticControl, simplex_weights

START = pd.Timestamp("2023-07-01")
CHANGE = date(2025, 7, 1)  # month 24 of 36
UNITS = ("north", "south", "east", "west", "centre", "islands", "coast", "hills")


def simulated_panel(seed: int, hazard_ratio: float = 1.0, accounts: int = 3000, units: int = 1, months: int = 36,
                    change_month: int = 24, drift: float = 0.0, shock: float = 0.0) -> pd.DataFrame:
    """Accounts signed up before the window and during it, with a monthly hazard falling with tenure and a season, as
    in test_change_effect's planted_panel, and

    - `units` groups of `accounts` each (one group: every account), with their own level of churn (0.7 to 1.5 times)
      and their own signup history (from 6 to 36 months before the window: a different tenure mix); the first group
      is reached by the change, its hazard times `hazard_ratio` from `change_month`;
    - every account's hazard times exp(drift × (month − change_month)): a trend that predates the change;
    - every account's hazard times one lognormal factor per month with log-sd `shock` (mean 1): the shocks that move
      every account at once (a staffing gap, an outage)."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(units), accounts)
    level = rng.uniform(0.7, 1.5, units)[unit] if units > 1 else np.ones(unit.size)
    earliest = rng.integers(-36, -6, units)[unit] if units > 1 else np.full(unit.size, -24)
    signup = rng.integers(earliest, months - 1)
    month_factor = np.exp(shock * rng.standard_normal(months) - shock ** 2 / 2)
    reached = unit == 0
    alive = np.ones(unit.size, dtype=bool)
    rows = []
    for month in range(months):
        at_risk = alive & (signup <= month)
        tenure = month - signup
        hazard = (0.03 * np.exp(-0.03 * tenure) + 0.006) * (1 + 0.25 * np.sin(2 * np.pi * month / 12))
        hazard = hazard * level * month_factor[month] * np.exp(drift * (month - change_month))
        hazard = hazard * np.where(reached & (month >= change_month), hazard_ratio, 1.0)
        churned = at_risk & (rng.random(unit.size) < 1 - np.exp(-hazard))
        index = np.flatnonzero(at_risk)
        rows.append(pd.DataFrame({"account_id": index, "month_start": START + pd.DateOffset(months=month),
                                  "tenure_days": np.maximum(tenure[index], 0) * 30,
                                  "churned": churned[index].astype(int), "mrr": 50.0, "is_treated": reached[index],
                                  "unit": np.asarray(UNITS)[unit[index]]}))
        alive &= ~churned
    return pd.concat(rows, ignore_index=True)


def account_clustered_interval(panel: pd.DataFrame) -> tuple[float, float]:
    """The naive answer: the textbook segmented Poisson regression on the account-month panel (a step at the change,
    a linear trend, the same season and tenure bands), errors clustered by account as the difference-in-differences
    clusters them."""
    stamps = pd.to_datetime(panel.month_start)
    month = (stamps.dt.year * 12 + stamps.dt.month).to_numpy()
    data = pd.DataFrame({"churned": panel.churned, "account": panel.account_id,
                         "band": np.minimum(panel.tenure_days // 91, 12), "trend": (month - (2025 * 12 + 7)) / 12})
    data["after"] = (data.trend >= 0).astype(float)
    for k in (1, 2):
        data[f"sin{k}"], data[f"cos{k}"] = np.sin(2 * np.pi * k * month / 12), np.cos(2 * np.pi * k * month / 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pf.fepois("churned ~ after + trend + sin1 + cos1 + sin2 + cos2 | band", data=data,
                        vcov={"CRV1": "account"})
    estimate, se = float(fit.coef()["after"]), float(fit.se()["after"])
    return float(np.exp(estimate - 1.96 * se)), float(np.exp(estimate + 1.96 * se))


# --- interrupted time series --------------------------------------------------------------------------------------

def test_its_finds_a_change_that_reached_everyone_within_its_interval():
    covered, estimates = 0, []
    for seed in range(6):
        fitted = InterruptedTimeSeries(CHANGE).fit(simulated_panel(seed, hazard_ratio=0.7))
        ratio = fitted.hazard_ratio_
        covered += ratio["ci_lower"] <= 0.7 <= ratio["ci_upper"]
        estimates.append(ratio["log_estimate"])
    assert covered >= 5
    assert abs(np.mean(estimates) - np.log(0.7)) < 2 * np.std(estimates) / np.sqrt(len(estimates)) + 0.02
    # the last fit's months: the ones after the change below the extrapolation, the placebos before it at 1
    table = fitted.event_study_.set_index("months_from_change")
    assert table.loc[table.index >= 0, "estimate"].mean() < 0.85
    assert table.loc[table.index < 0, "estimate"].between(0.6, 1.6).all()
    assert len(fitted.placebos_) == 2 and all(p["ci_lower"] <= 1 <= p["ci_upper"] for p in fitted.placebos_)
    assert fitted.pre_trend_p_value_ > 0.05
    assert "weakest design" in fitted.design_caveat and "credited to the change" in fitted.design_caveat



def test_its_intervals_hold_month_level_shocks_that_account_clustered_intervals_miss():
    """Every account's hazard times one random factor a month (log-sd 0.4): months, not accounts, are the unit of
    information. The naive answer clusters by account and is several times too narrow; the design's months-based
    errors hold the truth on most seeds."""
    truth, ours, naive, widths = 0.8, 0, 0, []
    for seed in range(10):
        panel = simulated_panel(100 + seed, hazard_ratio=truth, accounts=4000, shock=0.4)
        ratio = InterruptedTimeSeries(CHANGE).fit(panel).hazard_ratio_
        lower, upper = account_clustered_interval(panel)
        ours += ratio["ci_lower"] <= truth <= ratio["ci_upper"]
        naive += lower <= truth <= upper
        widths.append(np.log(ratio["ci_upper"] / ratio["ci_lower"]) / np.log(upper / lower))
    assert ours >= 8, ours
    assert naive <= 6, naive  # the naive answer is wrong
    assert np.median(widths) > 2


def test_its_extrapolates_a_trend_that_predates_the_change_instead_of_crediting_it():
    """No change, but everyone's hazard falls 2% a month throughout: churn after the change is well below churn
    before it, and the design, extrapolating the trend, finds no effect."""
    held = 0
    for seed in range(3):
        panel = simulated_panel(200 + seed, drift=-0.02)
        after = pd.to_datetime(panel.month_start) >= pd.Timestamp(CHANGE)
        assert panel.churned[after].mean() / panel.churned[~after].mean() < 0.85  # before against after is wrong
        ratio = InterruptedTimeSeries(CHANGE).fit(panel).hazard_ratio_
        held += ratio["ci_lower"] <= 1 <= ratio["ci_upper"]
    assert held >= 2


def test_its_refuses_less_than_a_year_before_the_change_and_a_change_that_missed_some_accounts():
    panel = simulated_panel(3, accounts=500)
    with pytest.raises(ChangeEffectError, match="at least 12 whole months before the change"):
        InterruptedTimeSeries(date(2024, 5, 1)).fit(panel)
    with pytest.raises(ChangeEffectError, match="difference-in-differences"):
        InterruptedTimeSeries(CHANGE).fit(panel.assign(is_treated=panel.account_id % 2 == 0))


def test_its_rows_leave_out_the_month_a_change_falls_in():
    panel = simulated_panel(4, accounts=800)
    fitted = InterruptedTimeSeries(date(2025, 7, 15)).fit(panel)
    rows = fitted.rows_
    assert list(rows.columns) == ["row", "account", "month", "event_month", "treated", "churned", "mrr"]
    assert (2025 * 12 + 7) not in set(rows.month)  # July 2025: partly before the change
    assert set(rows.month[rows.event_month == 0]) == {2025 * 12 + 8}
    assert set(rows.month[rows.event_month == -1]) == {2025 * 12 + 6}
    assert len(rows) == len(panel) - (pd.to_datetime(panel.month_start) == "2025-07-01").sum()
    assert panel.churned.to_numpy()[rows.row].sum() == rows.churned.sum()


# --- synthetic control --------------------------------------------------------------------------------------------

def test_sc_finds_a_planted_change_in_one_group_of_six():
    covered, estimates, ranked_high = 0, [], 0
    for seed in range(4):
        fitted = SyntheticControl(CHANGE).fit(simulated_panel(seed, hazard_ratio=0.6, accounts=900, units=6))
        ratio = fitted.hazard_ratio_
        covered += ratio["ci_lower"] <= 0.6 <= ratio["ci_upper"]
        estimates.append(ratio["log_estimate"])
        ranked_high += ratio["p_value"] <= 1 / 3  # first or second of six on the post/pre fit ratio
    assert covered >= 3 and ranked_high >= 3
    assert abs(np.mean(estimates) - np.log(0.6)) < 0.15
    assert fitted.counts_["treated_unit"] == "north" and fitted.counts_["units"] == 6
    assert [p["unit"] for p in fitted.placebos_] == list(fitted.weights_.unit)
    table = fitted.event_study_.set_index("months_from_change")
    assert table.loc[table.index >= 0, "estimate"].mean() < 0.8
    assert set(fitted.rows_.treated) == {True, False} and len(fitted.rows_) > 0


def test_sc_finds_no_change_where_there_is_none():
    """With five donors the p-value is one of 1/6, 2/6, ..., 1 and, with no change, each about equally likely: the
    smallest on some seeds, but not on most, and the interval holds 1 on most."""
    p_values, covered = [], 0
    for seed in range(8):
        ratio = SyntheticControl(CHANGE).fit(simulated_panel(10 + seed, accounts=900, units=6)).hazard_ratio_
        p_values.append(ratio["p_value"])
        covered += ratio["ci_lower"] <= 1 <= ratio["ci_upper"]
    assert sum(p < 1 / 6 + 1e-9 for p in p_values) <= 4, p_values
    assert np.mean(p_values) > 0.35, p_values
    assert covered >= 6


def test_sc_weights_lie_on_the_simplex_and_find_an_exact_mixture():
    fitted = SyntheticControl(CHANGE).fit(simulated_panel(20, accounts=600, units=5))
    weights = fitted.weights_
    assert list(weights.columns) == ["unit", "weight"] and len(weights) == 4
    assert (weights.weight >= 0).all() and weights.weight.sum() == pytest.approx(1.0)
    assert [d["weight"] for d in fitted.counts_["donors"]] == list(weights.weight)
    assert "smallest possible p-value is 1/5" in " ".join(fitted.notes_)
    # the solver on a known answer: a target that is 30% of one donor and 70% of another, plus a third unused
    rng = np.random.default_rng(0)
    donors = rng.normal(1.0, 0.2, (24, 3))
    found = simplex_weights(donors, donors @ np.array([0.3, 0.7, 0.0]))
    np.testing.assert_allclose(found, [0.3, 0.7, 0.0], atol=1e-5)


def test_sc_refuses_fewer_than_two_donors():
    panel = simulated_panel(5, accounts=400, units=2)
    with pytest.raises(ChangeEffectError, match="at least 2 other groups"):
        SyntheticControl(CHANGE).fit(panel)
    with pytest.raises(ChangeEffectError, match="lacks the column"):
        SyntheticControl(CHANGE).fit(panel.drop(columns="unit"))

