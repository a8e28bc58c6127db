"""The existing base's forecast: a life table from what was known at the origin, simulated with both the hazards'
uncertainty and the chance in which accounts churn; checked on worlds whose hazards are planted."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from pipelines.models.forecast import (DAYS_PER_MONTH, ExistingBaseForecast, ForecastInputError, RetentionForecast,
                                       active_at, actual_active, actual_mrr, backtest, life_table, mrr_first)

AS_OF = date(2026, 6, 30)
START = date(2023, 7, 1)


def planted_accounts(seed: int, n: int = 6000, monthly_hazard: dict[str, float] | None = None,
                     falling: bool = False) -> pd.DataFrame:
    """Accounts signing up evenly from START to AS_OF, each churning at its segment's monthly hazard (halving over
    the first year of tenure when `falling`); churns after AS_OF kept, as a billing export has none yet but the
    test needs the truth."""
    hazards = monthly_hazard or {"Starter": 0.05, "Pro": 0.02}
    rng = np.random.default_rng(seed)
    segment = rng.choice(list(hazards), n)
    signup_offset = rng.integers(0, (AS_OF - START).days, n)
    rate = np.array([hazards[s] for s in segment]) / DAYS_PER_MONTH  # per day
    if falling:
        # twice the hazard in the first year: draw the first year, then the rest at the base rate
        first = rng.exponential(1 / (2 * rate))
        later = 365 + rng.exponential(1 / rate)
        lifetime = np.where(first < 365, first, later)
    else:
        lifetime = rng.exponential(1 / rate)
    signup = pd.to_datetime(START) + pd.to_timedelta(signup_offset, unit="D")
    churn = signup + pd.to_timedelta(np.ceil(lifetime), unit="D")
    return pd.DataFrame({"account_key": np.arange(n), "signup_date": signup.date,
                         "churn_date": churn.date, "segment": segment})


def test_the_life_table_reads_nothing_after_the_origin():
    accounts = planted_accounts(1, n=2000)
    origin = date(2025, 6, 30)
    before = life_table(accounts, origin).bands
    # an account that signs up after the origin, and churns of known accounts moved to after it, change nothing
    later = accounts.copy()
    later.loc[len(later)] = [len(later), origin + timedelta(days=3), None, "Pro"]
    moved = pd.to_datetime(later.churn_date) > pd.Timestamp(origin)
    later.loc[moved, "churn_date"] = origin + timedelta(days=400)
    pd.testing.assert_frame_equal(life_table(later, origin).bands, before)


def test_the_hazard_of_each_segment_is_the_planted_one():
    bands = life_table(planted_accounts(2), AS_OF).bands
    for segment, truth in {"Starter": 0.05, "Pro": 0.02}.items():
        own = bands[bands.segment == segment]
        rate = own.churns.sum() / own.exposure_months.sum()
        assert rate == pytest.approx(truth, rel=0.08), (segment, rate)


@pytest.mark.parametrize("falling", [False, True], ids=["flat hazard", "hazard halving after a year"])
def test_backtest_sets_each_past_forecast_beside_what_happened(falling):
    """Twelve origins, six months ahead, on a world whose hazards hold still: every month forecast has happened,
    and the forecast is close to it."""
    accounts = planted_accounts(3 if falling else 4, falling=falling)
    result = backtest(accounts, AS_OF, origins=12, months=6, draws=1000)
    assert len(result) == 72 and set(result.month) == set(range(1, 7))
    assert (result.lower_95 <= result.lower_80).all() and (result.upper_80 <= result.upper_95).all()
    assert (abs(result.estimate - result.actual) / result.actual).mean() < 0.02
    # one world's origins share its history, so their hits rise and fall together: across worlds below
    assert result.in_80.mean() >= 0.6 and result.in_95.mean() >= 0.8


@pytest.mark.parametrize("falling", [False, True], ids=["flat hazard", "hazard halving after a year"])
def test_intervals_hold_what_happened_as_often_as_they_claim_across_worlds(falling):
    """Forty worlds drawn alike, each forecast from one origin six months ahead: the 80% and 95% intervals of the
    accounts still customers hold what happened in about 80% and 95% of worlds, and the estimate is not biased
    (in units of the forecast's own spread). A backtest's origins in one world cannot show this: they share the
    world's history, so one world's hits are all or nothing together."""
    origin = date(2025, 6, 30)
    hits, z = [], []
    for seed in range(100, 140):
        accounts = planted_accounts(seed, n=2000, falling=falling)
        draws = ExistingBaseForecast(months=6, draws=1000, seed=seed).fit(accounts, origin).draws_[:, 5]
        happened = actual_active(accounts, origin, 6)[5]
        hits.append([np.percentile(draws, 10) <= happened <= np.percentile(draws, 90),
                     np.percentile(draws, 2.5) <= happened <= np.percentile(draws, 97.5)])
        z.append((happened - draws.mean()) / draws.std())
    in_80, in_95 = np.mean(hits, axis=0)
    assert 0.65 <= in_80 <= 0.93, in_80
    assert in_95 >= 0.85, in_95
    assert abs(np.mean(z)) < 0.35 and 0.75 <= np.std(z) <= 1.3, (np.mean(z), np.std(z))


def test_forecast_series_are_ordered_and_the_intervals_nested():
    accounts = planted_accounts(5, n=3000)
    forecast = ExistingBaseForecast(months=6, draws=500).fit(accounts, date(2026, 1, 31))
    actual = actual_active(accounts, date(2026, 1, 31), 6)
    estimates = [p["active_accounts"]["estimate"] for p in forecast.series_]
    assert all(a > b for a, b in zip(estimates, estimates[1:])) and estimates[0] < forecast.n_active_
    for point in forecast.series_:
        a = point["active_accounts"]
        assert a["lower_95"] <= a["lower_80"] <= a["estimate"] <= a["upper_80"] <= a["upper_95"]
        assert point["churned_accounts"]["estimate"] == pytest.approx(forecast.n_active_ - a["estimate"])
    assert len(actual) == 6
    # the same seed gives the same forecast
    again = ExistingBaseForecast(months=6, draws=500).fit(accounts, date(2026, 1, 31))
    assert again.series_ == forecast.series_


def test_bad_requests_say_why():
    with pytest.raises(ForecastInputError, match="at least one month"):
        ExistingBaseForecast(months=0)
    with pytest.raises(ForecastInputError, match="no account is active"):
        ExistingBaseForecast().fit(planted_accounts(6, n=100), START)


def swinging_accounts(seed: int, n: int = 6000, sigma: float = 0.3, phi: float = 0.7) -> pd.DataFrame:
    """Accounts as planted_accounts' flat world, but the whole base's churn swings from month to month: every
    hazard is multiplied by exp(s) in each period of L days, s an AR(1) with standard deviation `sigma` and
    persistence `phi` (a season, a staffing shortfall)."""
    rng = np.random.default_rng(seed)
    hazards = {"Starter": 0.05, "Pro": 0.02}
    segment = rng.choice(list(hazards), n)
    total_days = (AS_OF - START).days + 800
    n_periods = int(total_days // DAYS_PER_MONTH) + 1
    swing = np.empty(n_periods)
    swing[0] = rng.normal(0, sigma)
    for p in range(1, n_periods):
        swing[p] = phi * swing[p - 1] + sigma * np.sqrt(1 - phi ** 2) * rng.normal()
    signup_day = rng.integers(0, (AS_OF - START).days, n).astype(float)
    rate = np.array([hazards[s] for s in segment]) / DAYS_PER_MONTH
    churn_day = np.full(n, np.inf)
    for p in range(n_periods):
        begin, end = p * DAYS_PER_MONTH, (p + 1) * DAYS_PER_MONTH
        alive = (churn_day == np.inf) & (signup_day < end)
        start = np.maximum(signup_day[alive], begin)
        draw = start + rng.exponential(1 / (rate[alive] * np.exp(swing[p])))
        churn_day[np.flatnonzero(alive)[draw < end]] = draw[draw < end]
    signup = pd.to_datetime(START) + pd.to_timedelta(signup_day, unit="D")
    churn = pd.to_datetime(START) + pd.to_timedelta(np.ceil(np.minimum(churn_day, total_days)), unit="D")
    return pd.DataFrame({"account_key": np.arange(n), "signup_date": signup.date,
                         "churn_date": churn.date, "segment": segment})


def test_a_base_whose_churn_swings_gets_intervals_as_wide_as_the_swing():
    """Tenure and segment explain the planted worlds' churn but for a month-to-month swing of the whole base (an
    AR(1), sd 0.3 on the log scale, persistence 0.7): the forecast measures the swing before the origin and carries
    it, with how uncertain its size, its persistence and the level it swings about are, so across thirty such
    worlds its intervals still hold what happened about as often as they claim. Three years of months pin the
    persistence down poorly, so six months ahead the intervals run somewhat narrow (about 73% and 90% here)."""
    origin = date(2025, 6, 30)
    hits, z, sigmas = [], [], []
    for seed in range(100, 130):
        accounts = swinging_accounts(seed, n=3000)
        forecast = ExistingBaseForecast(months=6, draws=1000, seed=seed).fit(accounts, origin)
        happened = actual_active(accounts, origin, 6)
        for m in (2, 5):
            draws = forecast.draws_[:, m]
            hits.append([m, np.percentile(draws, 10) <= happened[m] <= np.percentile(draws, 90),
                         np.percentile(draws, 2.5) <= happened[m] <= np.percentile(draws, 97.5)])
        z.append((happened[5] - forecast.draws_[:, 5].mean()) / forecast.draws_[:, 5].std())
        sigmas.append(forecast.swing_.sigma)
    assert 0.2 <= np.mean(sigmas) <= 0.4, np.mean(sigmas)
    by_month = pd.DataFrame(hits, columns=["month", "in_80", "in_95"]).groupby("month").mean()
    assert (by_month.in_80 >= 0.65).all() and (by_month.in_95 >= 0.85).all(), by_month
    assert abs(np.mean(z)) < 0.35 and np.std(z) < 1.45, (np.mean(z), np.std(z))


def monthly_mrr(accounts: pd.DataFrame, seed: int, growth: float = 0.0) -> pd.DataFrame:
    """Each account's MRR in every calendar month from its signup month to its churn month: drawn by segment at
    signup, then `growth` a month."""
    rng = np.random.default_rng(seed)
    first = np.where(accounts.segment == "Starter", rng.uniform(50, 150, len(accounts)),
                     rng.uniform(400, 1200, len(accounts)))
    first_month = pd.to_datetime(accounts.signup_date).to_numpy().astype("datetime64[M]")
    last_month = pd.to_datetime(accounts.churn_date).to_numpy().astype("datetime64[M]")
    n_months = (last_month - first_month).astype(int) + 1
    account = np.repeat(np.arange(len(accounts)), n_months)
    k = np.arange(account.size) - np.repeat(np.cumsum(n_months) - n_months, n_months)
    months = first_month[account] + k.astype("timedelta64[M]")
    return pd.DataFrame({"account_key": accounts.account_key.to_numpy()[account],
                         "month_start": months.astype("datetime64[D]").astype(object),
                         "mrr": first[account] * (1 + growth) ** k})


def test_the_bases_mrr_follows_the_accounts_that_stay_and_their_growth():
    """MRR planted by segment, growing 1% a month for every account: the forecast's MRR of the existing base is
    within a few percent of what happened, and across worlds its intervals hold it about as often as they claim."""
    accounts = planted_accounts(8, n=3000)
    mrr = monthly_mrr(accounts, 8, growth=0.01)
    result = backtest(accounts, AS_OF, origins=8, months=6, draws=500, mrr=mrr)
    error = (result.mrr_estimate - result.actual_mrr) / result.actual_mrr
    assert abs(error.mean()) < 0.02 and error.abs().mean() < 0.04, error.describe()
    origin, hits, z = date(2025, 6, 30), [], []
    for seed in range(200, 220):
        world = planted_accounts(seed, n=1500)
        world_mrr = monthly_mrr(world, seed, growth=0.01)
        draws = ExistingBaseForecast(months=6, draws=500, seed=seed).fit(world, origin, world_mrr).mrr_draws_[:, 5]
        happened = actual_mrr(world, world_mrr, origin, 6)[5]
        hits.append(np.percentile(draws, 2.5) <= happened <= np.percentile(draws, 97.5))
        z.append((happened - draws.mean()) / draws.std())
    # unbiased, and the spread of what happened about the forecast is the forecast's own, within what twenty
    # worlds can tell
    assert np.mean(hits) >= 0.85 and abs(np.mean(z)) < 0.45 and 0.6 <= np.std(z) <= 1.4, (np.mean(hits), z)
    forecast = ExistingBaseForecast(months=3, draws=300).fit(accounts, date(2026, 1, 31), mrr)
    assert forecast.series_[0]["arr"]["estimate"] == pytest.approx(12 * forecast.series_[0]["mrr"]["estimate"])


def test_the_forecast_document_has_the_shape_the_command_prints():
    """Each month after the origin: every measure with its estimate and 80% and 95% bounds, the existing base and
    new business apart, revenue retention of the base; the totals are the parts' sums."""
    from pipelines.models.forecast import RetentionForecast, month_label

    accounts = planted_accounts(9, n=2000)
    mrr = monthly_mrr(accounts, 9)
    origin = date(2026, 3, 31)
    forecast = RetentionForecast(months=4, draws=300).fit(accounts, origin, mrr)
    document = forecast.document_
    assert document["as_of"] == "2026-03-31" and document["months"] == 4 and document["draws"] == 300
    assert [row["month"] for row in document["series"]] == [month_label(origin, m) for m in range(1, 5)]
    assert document["series"][0]["month"] == "2026-04"
    keys = {"estimate", "lower_80", "upper_80", "lower_95", "upper_95"}
    for row in document["series"]:
        for measure in ("active_accounts", "churned_accounts", "mrr", "arr", "existing_base_mrr", "new_business_mrr",
                        "gross_revenue_retention", "net_revenue_retention"):
            assert set(row[measure]) == keys, measure
            assert row[measure]["lower_95"] <= row[measure]["lower_80"] <= row[measure]["upper_80"] \
                <= row[measure]["upper_95"], measure
        assert row["mrr"]["estimate"] == pytest.approx(
            row["existing_base_mrr"]["estimate"] + row["new_business_mrr"]["estimate"])
        # planted MRR never changes: nothing expands, so gross and net retention agree
        assert row["gross_revenue_retention"]["estimate"] == pytest.approx(row["net_revenue_retention"]["estimate"])
    assert any("not a change the history has not seen" in note for note in document["notes"])


def test_the_total_backtest_sets_the_forecast_beside_what_happened_and_the_naive_baseline():
    from pipelines.models.forecast import backtest_summary, total_backtest

    accounts = planted_accounts(10, n=2000)
    result = total_backtest(accounts, monthly_mrr(accounts, 10), AS_OF, origins=3, months=2, draws=200)
    assert len(result) == 3 * 2 * 3
    assert set(result.measure) == {"active_accounts", "existing_base_accounts", "mrr"}
    assert (result.origin.max() + timedelta(days=2 * DAYS_PER_MONTH)) <= AS_OF + timedelta(days=1)
    # the existing base's actual is today's accounts still customers: fewer than all accounts, new ones included
    both = result.pivot_table(index=["origin", "month"], columns="measure", values="actual")
    assert (both.existing_base_accounts < both.active_accounts).all()
    summary = backtest_summary(result).set_index("measure")
    assert set(summary.columns) == {"in_80", "in_95", "error", "naive_error", "sbg_error"}
    assert (summary.error < 0.1).all(), summary
    # the sBG per signup cohort forecasts today's accounts alone; on flat hazards it is close too
    assert summary.sbg_error.notna().tolist() == [name == "existing_base_accounts" for name in summary.index]
    assert summary.loc["existing_base_accounts", "sbg_error"] < 0.1


def test_the_command_prints_the_forecast_and_its_backtest(small_demo_database, capsys):
    import json

    from pipelines.cli import main

    db = str(small_demo_database[0])
    assert main(["forecast", "--db", db, "--months", "3", "--draws", "200", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["months"] == 3 and document["draws"] == 200 and len(document["series"]) == 3
    first = document["series"][0]
    assert set(first) >= {"month", "active_accounts", "churned_accounts", "mrr", "arr", "gross_revenue_retention",
                          "net_revenue_retention", "existing_base_mrr", "new_business_mrr"}
    assert main(["forecast", "--db", db, "--months", "2", "--draws", "200", "--new-business", "off",
                 "--format", "json"]) == 0
    without = json.loads(capsys.readouterr().out)["series"][0]
    assert without["new_business_mrr"]["estimate"] == 0 and \
        without["active_accounts"]["estimate"] < first["active_accounts"]["estimate"]
    assert main(["forecast", "--db", db, "--months", "2", "--draws", "200", "--filter", "plan=Starter",
                 "--format", "csv"]) == 0
    csv = capsys.readouterr().out
    assert csv.startswith("month,measure,estimate,lower_80,upper_80,lower_95,upper_95")
    assert main(["forecast", "--db", db, "--backtest", "--origins", "2", "--months", "2", "--draws", "200"]) == 0
    table = capsys.readouterr().out
    assert "80% intervals hold" in table and "naive baseline" in table and "mrr" in table


def test_the_command_refuses_what_it_cannot_forecast(small_demo_database, capsys):
    from pipelines.cli import main

    db = str(small_demo_database[0])
    assert main(["forecast", "--db", db, "--as-of", "2030-01-01"]) == 2
    assert "after the build's as-of date" in capsys.readouterr().err
    assert main(["forecast", "--db", db, "--filter", "plan=Nonexistent"]) == 2
    assert "no account matches the filters" in capsys.readouterr().err
    assert main(["forecast", "--db", db, "--filter", "colour=red"]) == 2
    assert "colour" in capsys.readouterr().err


def test_churn_by_cause_splits_each_draws_churn_as_each_plan_and_tenure_split_it():
    """Churn reasons planted by plan (two in five of Starter's churns involuntary, one in ten of Pro's): the
    forecast's churned accounts by cause add up to its churned accounts in every draw, and the involuntary share of
    the next year's churn is the one that happened; without reasons there is no split."""
    accounts = planted_accounts(31, n=4000)
    rng = np.random.default_rng(31)
    involuntary = rng.random(len(accounts)) < np.where(accounts.segment == "Starter", 0.4, 0.1)
    accounts["churn_cause"] = np.where(involuntary, "involuntary", "voluntary")
    origin = date(2025, 6, 30)
    forecast = RetentionForecast(months=12, draws=500, new_business=False).fit(accounts, origin, None)
    assert forecast.base.causes_ == ["involuntary", "voluntary"]
    by_cause = forecast.base.churned_by_cause_draws_
    np.testing.assert_allclose(by_cause.sum(axis=2), forecast.base.n_active_ - forecast.base.draws_)
    last = forecast.series_[-1]["churned_by_cause"]
    share = last["involuntary"]["estimate"] / forecast.series_[-1]["churned_accounts"]["estimate"]
    churn = pd.to_datetime(accounts.churn_date)
    happened = active_at(accounts, origin) & (churn <= pd.Timestamp(origin) + pd.Timedelta(days=12 * DAYS_PER_MONTH))
    # the next year's churn mix of plans is itself a forecast, so the share is close, not exact
    assert share == pytest.approx(involuntary[happened].mean(), abs=0.05)
    for plan, planted in {"Starter": 0.4, "Pro": 0.1}.items():
        own = RetentionForecast(months=12, draws=300, new_business=False).fit(
            accounts[accounts.segment == plan], origin, None).series_[-1]
        assert own["churned_by_cause"]["involuntary"]["estimate"] / own["churned_accounts"]["estimate"] == (
            pytest.approx(planted, abs=0.045)), plan
    assert {"churned_accounts:involuntary", "churned_accounts:voluntary"} <= set(forecast.frame().measure)

    unsplit = RetentionForecast(months=2, draws=200, new_business=False).fit(accounts.drop(columns="churn_cause"),
                                                                              origin, None)
    assert unsplit.base.causes_ == [] and "churned_by_cause" not in unsplit.series_[-1]


def test_first_month_mrr_is_the_signup_months_first_row_and_zero_where_unknown():
    """New accounts' starting MRR: the first row of an account's signup month, 0 when the month has no row or an
    empty MRR, whatever day of the month the account signed up."""
    mrr = pd.DataFrame({
        "account_key": np.array([1, 1, 1, 2, 3, 4, 4], dtype=np.int32),
        "month_start": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-01", "2024-03-01", "2024-01-01",
                                       "2024-05-01", "2024-06-01"]),
        "mrr": [100.0, 120.0, 999.0, 50.0, np.nan, 70.0, 80.0]})
    keys = pd.Series(np.array([1, 2, 3, 4, 5], dtype=np.int32))
    signups = pd.Series(pd.to_datetime(["2024-01-31", "2024-02-10", "2024-01-01", "2024-06-15", "2024-01-05"]))
    # 1: January's first row (not the repeat); 2: no February row; 3: an empty MRR; 4: June; 5: no rows at all
    assert mrr_first(mrr, keys, signups).tolist() == [100.0, 0.0, 0.0, 80.0, 0.0]
    assert mrr_first(mrr.iloc[:0], keys, signups).tolist() == [0.0] * 5
