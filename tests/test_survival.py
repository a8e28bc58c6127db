"""Kaplan-Meier survival (pipelines.models.survival) against lifelines, hand-computed cases and a bootstrap.

The reference for curves, CIs, medians, log-rank and the RMST point estimate is lifelines 0.30
(KaplanMeierFitter, logrank_test, multivariate_logrank_test, restricted_mean_survival_time) run on
the account rows of the same database. The RMST variance is checked against a hand-computed case
and a bootstrap, because lifelines' own RMST variance has a reported bug.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test
from lifelines.utils import median_survival_times, restricted_mean_survival_time

from pipelines.build import build_database
from pipelines.filters import filter_predicate, filterable_columns, parse_filters
from pipelines.sqlrun import quote_ident
from pipelines.settings import BuildSettings
from pipelines.cli.km import add_parser as add_km_parser
from pipelines.models.survival import (
    CURVE_COLUMNS,
    KaplanMeier,
    SurvivalInputError,
    product_limit,
    restricted_mean,
)
from tests.conftest import INTERACTION_HEADER, write_csv
from shared_runs import once_per_run

AS_OF = date(2025, 6, 30)
# A segment name that would break SQL if it were ever pasted unquoted.
ODD_COLUMN = 'owner; drop table "x" --'
PLAN_RATES_PER_DAY = {"Basic": 1 / 500, "Plus": 1 / 800, "Pro": 1 / 1300}


def synthetic_accounts(n: int, seed: int) -> list[dict]:
    """Accounts over three years with integer-day lifetimes (many ties), churn after as-of (censored),
    never-churning accounts, same-day churns and signups on the as-of day (time-0 rows), and 5% no MRR."""
    rng = np.random.default_rng(seed)
    plans = rng.choice(list(PLAN_RATES_PER_DAY), n, p=[0.5, 0.3, 0.2])
    regions = rng.choice(["AMER", "APAC", "EMEA", "LATAM"], n)
    seats = np.round(rng.lognormal(2.5, 1.0, n)).astype(int) + 1
    owners = rng.choice(["a", "b"], n)
    offsets = rng.integers(0, 1100, n)
    offsets[:3] = 0  # signed up on the as-of day
    rates = np.array([PLAN_RATES_PER_DAY[p] for p in plans])
    lifetimes = np.floor(rng.exponential(1 / rates)).astype(int)
    lifetimes[3:6] = 0  # churned on the signup day
    never = rng.random(n) < 0.1
    mrr = np.round(rng.lognormal(5, 1, n), 2)
    no_mrr = rng.random(n) < 0.05
    rows = []
    for i in range(n):
        signup = AS_OF - timedelta(days=int(offsets[i]))
        churn = "" if never[i] else (signup + timedelta(days=int(lifetimes[i]))).isoformat()
        rows.append({
            "account_id": f"A{i:05d}", "signup_date": signup.isoformat(), "churn_date": churn,
            "mrr": "" if no_mrr[i] else f"{mrr[i]:.2f}", "plan": plans[i], "region": regions[i],
            "seats": str(seats[i]), ODD_COLUMN: owners[i],
        })
    return rows


ACCOUNT_COLUMNS = ["account_id", "signup_date", "churn_date", "mrr", "plan", "region", "seats", ODD_COLUMN]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """A built database of 1,500 synthetic accounts, opened read-only (as the dashboard will)."""
    def build():
        folder = tmp_path_factory.mktemp("km")
        accounts = write_csv(folder / "accounts.csv", ACCOUNT_COLUMNS, synthetic_accounts(1500, seed=11))
        interactions = write_csv(folder / "interactions.csv", INTERACTION_HEADER, [])
        db_path = folder / "retention.duckdb"
        build_database(accounts, interactions, db_path, settings=BuildSettings(as_of=AS_OF))
        return db_path

    db_path = once_per_run(tmp_path_factory, "km", build)  # both pytest-xdist processes read it
    con = duckdb.connect(str(db_path), read_only=True)
    yield con, db_path
    con.close()


@pytest.fixture(scope="module")
def accounts(db):
    con, _ = db
    return con.execute(
        f"select duration_days, churned, mrr, plan, region, seats, {quote_ident(ODD_COLUMN)} as owner, "
        "signup_cohort_month from account_survival"
    ).df()


def lifelines_fit(frame: pd.DataFrame) -> KaplanMeierFitter:
    return KaplanMeierFitter().fit(frame["duration_days"], frame["churned"])


def curve_of(model: KaplanMeier, group: str) -> pd.DataFrame:
    return model.curves_[model.curves_["group"] == group].reset_index(drop=True)


def assert_curve_matches_lifelines(ours: pd.DataFrame, kmf: KaplanMeierFitter) -> None:
    table = kmf.event_table
    np.testing.assert_array_equal(ours["time_days"].to_numpy(), table.index.to_numpy())
    np.testing.assert_array_equal(ours["at_risk"].to_numpy(), table["at_risk"].to_numpy())
    np.testing.assert_array_equal(ours["events"].to_numpy(), table["observed"].to_numpy())
    np.testing.assert_array_equal(ours["censored"].to_numpy(), table["censored"].to_numpy())
    np.testing.assert_allclose(ours["survival"], kmf.survival_function_.iloc[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours["ci_lower"], kmf.confidence_interval_.iloc[:, 0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours["ci_upper"], kmf.confidence_interval_.iloc[:, 1], rtol=0, atol=1e-6)


# ---- curves, medians, horizons against lifelines ------------------------------------------------


def test_km_overall_curve_matches_lifelines(db, accounts):
    model = KaplanMeier().fit(db[0])
    assert model.groups_ == ["all"]
    assert list(model.curves_.columns) == CURVE_COLUMNS
    assert model.curves_["time_days"].iloc[0] == 0  # the time-0 row, as survival_function_ has it
    assert_curve_matches_lifelines(curve_of(model, "all"), lifelines_fit(accounts))


def test_km_curves_by_plan_match_lifelines_with_ties_and_time_zero_events(db, accounts):
    model = KaplanMeier(by="plan").fit(db[0])
    assert model.groups_ == ["Basic", "Plus", "Pro"]
    assert (accounts["duration_days"] == 0).any()  # the data do exercise the time-0 row
    for plan in model.groups_:
        assert_curve_matches_lifelines(curve_of(model, plan), lifelines_fit(accounts[accounts["plan"] == plan]))


def test_km_median_and_its_ci_equal_lifelines(db, accounts):
    model = KaplanMeier(by="plan").fit(db[0])
    summary = model.summary_.set_index("group")
    for plan in model.groups_:
        kmf = lifelines_fit(accounts[accounts["plan"] == plan])
        lower, upper = median_survival_times(kmf.confidence_interval_).to_numpy()[0]
        assert summary.loc[plan, "median_survival_days"] == kmf.median_survival_time_
        assert summary.loc[plan, "median_ci_lower_days"] == lower
        assert summary.loc[plan, "median_ci_upper_days"] == upper
        assert summary.loc[plan, "n_accounts"] == len(kmf.durations)
        assert summary.loc[plan, "n_churned"] == kmf.event_observed.sum()


def test_km_survival_at_horizons_matches_lifelines_and_is_nan_past_follow_up(db, accounts):
    model = KaplanMeier(by="region", horizons_days=(90, 180, 365, 730, 5000)).fit(db[0])
    summary = model.summary_.set_index("group")
    for region in model.groups_:
        kmf = lifelines_fit(accounts[accounts["region"] == region])
        for h in (90, 180, 365, 730):
            ci = kmf.confidence_interval_.loc[:h].iloc[-1]
            assert summary.loc[region, f"survival_{h}d"] == pytest.approx(kmf.survival_function_at_times(h).iloc[0], abs=1e-9)
            assert summary.loc[region, f"survival_{h}d_ci_lower"] == pytest.approx(ci.iloc[0], abs=1e-6)
            assert summary.loc[region, f"survival_{h}d_ci_upper"] == pytest.approx(ci.iloc[1], abs=1e-6)
        # 5000 days is past every account's follow-up: unknown, not the last value carried forward
        assert np.isnan(summary.loc[region, "survival_5000d"])


# ---- log-rank ------------------------------------------------------------------------------


def test_logrank_two_groups_matches_lifelines_logrank_test(db, accounts):
    model = KaplanMeier(by="plan", filters=["plan!=Pro"]).fit(db[0])
    assert model.groups_ == ["Basic", "Plus"]
    a, b = accounts[accounts["plan"] == "Basic"], accounts[accounts["plan"] == "Plus"]
    ref = logrank_test(a["duration_days"], b["duration_days"], a["churned"], b["churned"])
    assert model.logrank_["test"] == "logrank_test"
    assert model.logrank_["degrees_of_freedom"] == 1
    assert model.logrank_["test_statistic"] == pytest.approx(ref.test_statistic, abs=1e-6)
    assert model.logrank_["p_value"] == pytest.approx(ref.p_value, abs=1e-6)


@pytest.mark.parametrize("by", ["plan", "region"])
def test_logrank_several_groups_matches_lifelines_multivariate(db, accounts, by):
    model = KaplanMeier(by=by).fit(db[0])
    ref = multivariate_logrank_test(accounts["duration_days"], accounts[by], accounts["churned"])
    assert model.logrank_["test"] == "multivariate_logrank_test"
    assert model.logrank_["degrees_of_freedom"] == ref.degrees_of_freedom == len(model.groups_) - 1
    assert model.logrank_["test_statistic"] == pytest.approx(ref.test_statistic, abs=1e-6)
    assert model.logrank_["p_value"] == pytest.approx(ref.p_value, abs=1e-6)
    if by == "plan":  # the synthetic plans were given different hazards
        assert model.logrank_["p_value"] < 1e-3


def test_logrank_absent_for_one_group(db):
    assert KaplanMeier().fit(db[0]).logrank_ is None


# ---- RMST ----------------------------------------------------------------------------------


def test_rmst_point_estimate_matches_lifelines(db, accounts):
    model = KaplanMeier(by="plan").fit(db[0])
    rmst = model.rmst_.set_index(["group", "tau_days"])
    for plan in model.groups_:
        kmf = lifelines_fit(accounts[accounts["plan"] == plan])
        for tau in (365, 730):
            expected = restricted_mean_survival_time(kmf, t=tau)
            assert rmst.loc[(plan, tau), "rmst_days"] == pytest.approx(expected, abs=1e-9)


def test_rmst_variance_hand_computed_case():
    """Five accounts, tau = 7 days.

    durations 2 (churned), 3 (censored), 5 (churned), 6 (churned), 8 (censored).
    KM: S = 1 on [0,2); 4/5 on [2,5) (n=5, d=1); 4/5 * 2/3 = 8/15 on [5,6) (n=3); 8/15 * 1/2 = 4/15 on [6,8).
    RMST(7) = 2*1 + 3*4/5 + 1*8/15 + 1*4/15 = 2 + 12/5 + 12/15 = 26/5 = 5.2 days.
    Areas from each event time to tau: A(2) = 12/5 + 12/15 = 16/5; A(5) = 12/15 = 4/5; A(6) = 4/15.
    Var = (16/5)^2 * 1/(5*4) + (4/5)^2 * 1/(3*2) + (4/15)^2 * 1/(2*1)
        = 64/125 + 8/75 + 8/225 = (576 + 120 + 40) / 1125 = 736/1125 = 0.654222...
    """
    frame = pd.DataFrame({"duration_days": [2, 3, 5, 6, 8], "churned": [1, 0, 1, 1, 0], "mrr": [1.0] * 5})
    model = KaplanMeier(rmst_horizons_days=(7,)).fit_frame(frame)
    row = model.rmst_.iloc[0]
    assert row["rmst_days"] == pytest.approx(26 / 5, abs=1e-12)
    assert row["se_days"] ** 2 == pytest.approx(736 / 1125, abs=1e-12)
    assert row["ci_lower_days"] == pytest.approx(5.2 - 1.959963984540054 * np.sqrt(736 / 1125), abs=1e-9)


def _rmst_from_accounts(durations: np.ndarray, churned: np.ndarray, tau: float) -> tuple[float, float]:
    times, where = np.unique(durations, return_inverse=True)
    curve = product_limit(times, np.bincount(where), np.bincount(where, weights=churned).astype(np.int64))
    return restricted_mean(curve["time_days"], curve["survival"], curve["at_risk"], curve["events"], tau)


@pytest.mark.parametrize("tau", [365, 730])
def test_rmst_variance_agrees_with_a_bootstrap(accounts, tau):
    """500 bootstrap resamples of the Basic plan's accounts (seeded). The bootstrap variance itself has a
    Monte Carlo error of about sqrt(2/500) = 6%, so the formula must agree within 15%."""
    basic = accounts[accounts["plan"] == "Basic"]
    durations, churned = basic["duration_days"].to_numpy(), basic["churned"].to_numpy()
    _, variance = _rmst_from_accounts(durations, churned, tau)
    rng = np.random.default_rng(2024)
    boot = []
    for _ in range(500):
        pick = rng.integers(0, len(durations), len(durations))
        boot.append(_rmst_from_accounts(durations[pick], churned[pick], tau)[0])
    assert variance == pytest.approx(np.var(boot, ddof=1), rel=0.15)


def test_rmst_differences_subtract_the_reference_and_add_variances(db):
    model = KaplanMeier(by="plan", reference="Pro").fit(db[0])
    rmst = model.rmst_.set_index(["group", "tau_days"])
    diffs = model.rmst_differences_
    assert sorted(diffs["group"].unique()) == ["Basic", "Plus"]
    assert set(diffs["reference_group"]) == {"Pro"}
    for row in diffs.to_dict("records"):
        g, ref = rmst.loc[(row["group"], row["tau_days"])], rmst.loc[("Pro", row["tau_days"])]
        assert row["difference_days"] == pytest.approx(g["rmst_days"] - ref["rmst_days"], abs=1e-12)
        assert row["se_days"] == pytest.approx(np.hypot(g["se_days"], ref["se_days"]), abs=1e-12)
        half = row["ci_upper_days"] - row["difference_days"]
        assert half == pytest.approx(1.959963984540054 * row["se_days"], rel=1e-9)
    # Basic was given 2.6x Pro's hazard, so it keeps accounts fewer days within two years
    assert diffs.set_index(["group", "tau_days"]).loc[("Basic", 730), "ci_upper_days"] < 0


def test_rmst_is_nan_past_the_last_observed_day():
    frame = pd.DataFrame({"duration_days": [2, 3, 5], "churned": [1, 0, 0], "mrr": [1.0] * 3})
    model = KaplanMeier(rmst_horizons_days=(4, 10)).fit_frame(frame)
    rmst = model.rmst_.set_index("tau_days")
    assert rmst.loc[4, "rmst_days"] == pytest.approx(2 + 2 * 2 / 3)
    assert np.isnan(rmst.loc[10, "rmst_days"])


# ---- revenue curve -------------------------------------------------------------------------


def test_revenue_curve_hand_case_weights_by_mrr_and_counts_missing_mrr(build_rows):
    # Three paying accounts (100, 200, 700) and one without an MRR, all signed up 2024-01-01, as-of
    # 2024-12-31: A churns on day 10, the no-MRR account on day 15, B on day 20, C stays (censored at 365).
    accounts = [
        {"account_id": "A", "signup_date": "2024-01-01", "churn_date": "2024-01-11", "mrr": "100", "plan": "x"},
        {"account_id": "B", "signup_date": "2024-01-01", "churn_date": "2024-01-21", "mrr": "200", "plan": "x"},
        {"account_id": "C", "signup_date": "2024-01-01", "churn_date": "", "mrr": "700", "plan": "x"},
        {"account_id": "D", "signup_date": "2024-01-01", "churn_date": "2024-01-16", "mrr": "", "plan": "x"},
    ]
    built = build_rows(accounts, [], as_of=date(2024, 12, 31))
    model = KaplanMeier().fit(built.con)
    revenue = model.revenue_curves_.set_index("time_days")
    assert list(revenue.index) == [0, 10, 15, 20, 365]
    assert revenue.loc[0, "mrr_at_risk"] == 1000
    assert revenue.loc[10, "revenue_retained_share"] == pytest.approx(0.9, abs=1e-12)  # 100 of 1000 gone
    assert revenue.loc[15, "revenue_retained_share"] == pytest.approx(0.9, abs=1e-12)  # no MRR, no weight
    assert revenue.loc[20, "mrr_at_risk"] == 900
    assert revenue.loc[20, "revenue_retained_share"] == pytest.approx(0.7, abs=1e-12)  # 0.9 * 700/900
    assert revenue.loc[365, "mrr_censored"] == 700
    summary = model.summary_.iloc[0]
    assert summary["n_accounts_mrr_missing"] == 1
    assert summary["n_accounts"] == 4  # the logo curve keeps the account without MRR
    assert curve_of(model, "all").set_index("time_days").loc[20, "survival"] == pytest.approx(0.25)


def test_revenue_curve_censoring_removes_weight_without_a_loss(build_rows):
    # As above plus E (MRR 300) who signed up 2024-12-17 and is censored on day 14, before B churns.
    accounts = [
        {"account_id": "A", "signup_date": "2024-01-01", "churn_date": "2024-01-11", "mrr": "100"},
        {"account_id": "B", "signup_date": "2024-01-01", "churn_date": "2024-01-21", "mrr": "200"},
        {"account_id": "C", "signup_date": "2024-01-01", "churn_date": "", "mrr": "700"},
        {"account_id": "E", "signup_date": "2024-12-17", "churn_date": "", "mrr": "300"},
    ]
    built = build_rows(accounts, [], as_of=date(2024, 12, 31))
    revenue = KaplanMeier().fit(built.con).revenue_curves_.set_index("time_days")
    assert revenue.loc[10, "revenue_retained_share"] == pytest.approx(1200 / 1300, abs=1e-12)
    assert revenue.loc[14, "revenue_retained_share"] == pytest.approx(1200 / 1300, abs=1e-12)
    assert revenue.loc[20, "revenue_retained_share"] == pytest.approx(1200 / 1300 * 700 / 900, abs=1e-12)


# ---- filters and grouping ------------------------------------------------------------------


def test_filters_hostile_value_is_bound_and_matches_nothing(db, accounts):
    con = db[0]
    hostile = "plan=x' or '1'='1"
    columns = filterable_columns(con)
    predicate, params = filter_predicate(parse_filters([hostile], columns))
    assert "1'='1" not in predicate.text and params == {"filter_0": "x' or '1'='1"}
    count = con.execute(f"select count(*) from account_survival where {predicate.text}", params).fetchone()[0]
    assert count == 0
    with pytest.raises(SurvivalInputError, match="no accounts match the filters plan=x' or '1'='1"):
        KaplanMeier(filters=[hostile]).fit(con)
    # and as the right side of != it is just a value no plan has: every account with a plan is kept
    model = KaplanMeier(filters=["plan!=x' or '1'='1"]).fit(con)
    assert model.n_accounts_ == accounts["plan"].notna().sum()


def test_filters_unknown_column_lists_the_valid_ones(db):
    with pytest.raises(SurvivalInputError) as error:
        KaplanMeier(filters=["tier=Gold"]).fit(db[0])
    message = str(error.value)
    assert "unknown column 'tier'" in message
    for name in ("plan", "region", "seats", ODD_COLUMN, "mrr", "signup_cohort_month", "signup_year"):
        assert name in message
    assert "n_interactions_lifetime" not in message  # lifetime aggregates would leak the outcome


def test_filters_numeric_column_compares_numerically(db, accounts):
    # as text '9' > '10'; as numbers it is not
    model = KaplanMeier(filters=["seats>=10"]).fit(db[0])
    assert model.n_accounts_ == (accounts["seats"] >= 10).sum()
    assert model.n_accounts_ != (accounts["seats"].astype(int).astype(str) >= "10").sum()
    value = int(accounts["seats"].mode().iloc[0])
    assert KaplanMeier(filters=[f"seats={value}"]).fit(db[0]).n_accounts_ == (accounts["seats"] == value).sum()
    with pytest.raises(SurvivalInputError, match="'seats' is numeric, and 'ten' is not a number"):
        KaplanMeier(filters=["seats=ten"]).fit(db[0])


def test_filters_several_are_anded_and_reported(db, accounts):
    model = KaplanMeier(by="region", filters=["plan=Basic", "mrr>100", "signup_cohort_month>=2023-01"]).fit(db[0])
    expected = accounts[(accounts["plan"] == "Basic") & (accounts["mrr"] > 100)
                        & (accounts["signup_cohort_month"] >= pd.Timestamp("2023-01-01"))]
    assert model.n_accounts_ == len(expected)
    assert model.summary_.set_index("group")["n_accounts"].to_dict() == expected.groupby("region").size().to_dict()
    assert [f["column"] for f in model.filters_] == ["plan", "mrr", "signup_cohort_month"]
    kmf = lifelines_fit(expected[expected["region"] == "EMEA"])
    assert_curve_matches_lifelines(curve_of(model, "EMEA"), kmf)


def test_filters_and_grouping_on_an_odd_column_name_are_quoted(db, accounts):
    model = KaplanMeier(by=ODD_COLUMN, filters=[f"{ODD_COLUMN}!=b"]).fit(db[0])
    assert model.groups_ == ["a"]
    assert model.n_accounts_ == (accounts["owner"] == "a").sum()


def test_by_numeric_segment_groups_by_quartile(db, accounts):
    model = KaplanMeier(by="seats").fit(db[0])
    cuts = np.quantile(accounts["seats"], [0.25, 0.5, 0.75], method="inverted_cdf")  # = DuckDB quantile_disc
    assert model.grouping_ == f"seats (by quartile; cut points {cuts[0]:g}, {cuts[1]:g}, {cuts[2]:g})"
    assert model.groups_[0] == f"Q1 (<= {cuts[0]:g})" and model.groups_[3] == f"Q4 (> {cuts[2]:g})"
    bucket = np.searchsorted(cuts, accounts["seats"], side="left")  # value == cut -> lower quartile
    assert model.summary_["n_accounts"].tolist() == np.bincount(bucket, minlength=4).tolist()
    q4 = accounts[bucket == 3]
    assert_curve_matches_lifelines(curve_of(model, model.groups_[3]), lifelines_fit(q4))


def test_by_signup_year_and_cohort_month(db, accounts):
    years = KaplanMeier(by="signup_year").fit(db[0])
    assert years.groups_ == ["2022", "2023", "2024", "2025"]
    assert KaplanMeier(by="signup_cohort_month", filters=["signup_year=2025"]).fit(db[0]).groups_[0] == "2025-01"


def test_by_column_with_missing_values_gets_a_missing_group(build_rows):
    accounts = [
        {"account_id": "A", "signup_date": "2024-01-01", "churn_date": "2024-02-01", "mrr": "100", "plan": "Pro"},
        {"account_id": "B", "signup_date": "2024-01-01", "churn_date": "", "mrr": "100", "plan": ""},
        {"account_id": "C", "signup_date": "2024-01-01", "churn_date": "2024-03-01", "mrr": "100", "plan": "NA"},
    ]
    model = KaplanMeier(by="plan").fit(build_rows(accounts, [], as_of=date(2024, 6, 30)).con)
    assert model.groups_ == ["Pro", "(missing)"]
    assert model.summary_.set_index("group").loc["(missing)", "n_accounts"] == 2
    assert model.logrank_["degrees_of_freedom"] == 1


def test_groups_come_in_sql_order_with_missing_last_though_the_query_leaves_rows_unordered(build_rows):
    """km_event_counts.sql has no ORDER BY; the groups must still come in the order SQL's
    `order by plan nulls last` gives (code point order, accents and case included), days ascending."""
    plans = ["Équipe", "pro", "Pro", "", "Basic", "Zeta", "équipe"]
    accounts = [
        {"account_id": f"A{i}", "signup_date": "2024-01-01", "churn_date": f"2024-0{2 + i % 4}-01" if i % 3 else "",
         "mrr": "100", "plan": plan}
        for i, plan in enumerate(plans * 3)
    ]
    con = build_rows(accounts, [], as_of=date(2024, 6, 30)).con
    expected = [MISSING if v is None else v for (v,) in con.execute(
        "select distinct plan from account_survival order by plan nulls last").fetchall()]
    model = KaplanMeier(by="plan").fit(con)
    assert model.groups_ == [v if v is not MISSING else "(missing)" for v in expected]
    assert model.groups_[-1] == "(missing)" and model.groups_[:2] == ["Basic", "Pro"]
    for _, curve in model.curves_.groupby("group", sort=False):
        assert curve.time_days.is_monotonic_increasing and curve.time_days.is_unique


MISSING = object()


def test_filters_categorical_column_takes_only_equality(db):
    with pytest.raises(SurvivalInputError, match="'plan' is categorical, so only = and != apply"):
        KaplanMeier(filters=["plan>Basic"]).fit(db[0])
    with pytest.raises(SurvivalInputError, match="expected COLUMN=VALUE"):
        KaplanMeier(filters=["plan"]).fit(db[0])


def test_by_unknown_column_and_unknown_reference_are_clear_errors(db):
    with pytest.raises(SurvivalInputError, match="unknown --by column 'planz'; valid columns: .*plan"):
        KaplanMeier(by="planz").fit(db[0])
    with pytest.raises(SurvivalInputError, match="reference group 'Gold' is not among the groups"):
        KaplanMeier(by="plan", reference="Gold").fit(db[0])


# ---- the two aggregation paths agree -------------------------------------------------------


def test_duckdb_aggregation_equals_pandas_aggregation(db, accounts):
    """Not a benchmark: the per-day counts from km_event_counts.sql give the same numbers as the
    same model on the account rows aggregated in pandas (counts_from_frame)."""
    from_db = KaplanMeier(by="plan").fit(db[0])
    from_frame = KaplanMeier(by="plan").fit_frame(accounts)
    pd.testing.assert_frame_equal(from_db.curves_, from_frame.curves_, check_exact=True)
    pd.testing.assert_frame_equal(from_db.revenue_curves_, from_frame.revenue_curves_, rtol=1e-12)
    pd.testing.assert_frame_equal(from_db.rmst_, from_frame.rmst_, rtol=1e-12)
    assert from_db.logrank_["test_statistic"] == pytest.approx(from_frame.logrank_["test_statistic"], rel=1e-12)


@pytest.fixture(scope="module")
def db_with_gaps(tmp_path_factory):
    """A built database of 1,200 synthetic accounts (ties, censoring at as-of, time-0 rows, missing MRR) where
    every 17th account has no region, so a segment has a "(missing)" group."""
    folder = tmp_path_factory.mktemp("km_stored")
    rows = synthetic_accounts(1200, seed=23)
    for row in rows[::17]:
        row["region"] = ""
    accounts = write_csv(folder / "accounts.csv", ACCOUNT_COLUMNS, rows)
    interactions = write_csv(folder / "interactions.csv", INTERACTION_HEADER, [])
    build_database(accounts, interactions, folder / "retention.duckdb", settings=BuildSettings(as_of=AS_OF))
    con = duckdb.connect(str(folder / "retention.duckdb"), read_only=True)
    yield con
    con.close()


def assert_same_fit(stored: KaplanMeier, aggregated: KaplanMeier) -> None:
    """Every learned table and number equal, to the last bit."""
    assert stored.groups_ == aggregated.groups_ and stored.n_accounts_ == aggregated.n_accounts_
    assert (stored.grouping_, stored.as_of_, stored.filters_) == (aggregated.grouping_, aggregated.as_of_,
                                                                   aggregated.filters_)
    for name in ("curves_", "revenue_curves_", "summary_", "rmst_", "rmst_differences_"):
        pd.testing.assert_frame_equal(getattr(stored, name), getattr(aggregated, name), check_exact=True, obj=name)
    assert stored.logrank_ == aggregated.logrank_
    assert stored.to_json_dict() == aggregated.to_json_dict()


@pytest.mark.parametrize("by", [None, "plan", "region", ODD_COLUMN])
def test_stored_counts_give_the_same_fit_as_counting_the_accounts(db_with_gaps, by):
    """km_segment_counts is a lookup of what km_event_counts.sql counts: curves, intervals, at-risk counts,
    medians, RMST, log-rank and revenue curves are identical, for every account and per categorical segment,
    with tied days, censoring at as-of, time-0 rows and a missing group."""
    stored = KaplanMeier(by=by).fit(db_with_gaps)
    aggregated = KaplanMeier(by=by, use_stored_counts=False).fit(db_with_gaps)
    assert (stored.counts_source_, aggregated.counts_source_) == ("stored", "aggregated")
    assert_same_fit(stored, aggregated)
    if by == "region":
        assert stored.groups_[-1] == "(missing)"
    curves = stored.curves_
    assert (curves["events"] > 0).any() and ((curves["events"] > 0) & (curves["censored"] > 0)).any()  # ties
    assert (curves[curves["time_days"] == 0]["censored"] > 0).any()  # censored at as-of on the signup day


@pytest.mark.parametrize("by, filters", [(None, ["plan=Basic"]), ("region", ["plan=Pro"]),
                                         ("plan", ["region!=EMEA", "seats>3"])])
def test_a_filtered_view_counts_its_own_accounts(db_with_gaps, by, filters):
    """Any filter (a csm's scope is one) counts the filtered accounts: the stored counts of every account never
    stand in for a subset, and the fit is the one it was before the counts were stored."""
    model = KaplanMeier(by=by, filters=filters).fit(db_with_gaps)
    assert model.counts_source_ == "aggregated"
    assert_same_fit(model, KaplanMeier(by=by, filters=filters, use_stored_counts=False).fit(db_with_gaps))


@pytest.mark.parametrize("by", ["seats", "signup_year", "signup_cohort_month", "mrr"])
def test_groupings_the_build_did_not_store_count_the_accounts(db_with_gaps, by):
    assert KaplanMeier(by=by).fit(db_with_gaps).counts_source_ == "aggregated"


def test_km_runs_on_a_read_only_connection_without_writing(db):
    con, db_path = db
    before = db_path.stat().st_mtime_ns
    KaplanMeier(by="region", filters=["plan=Pro"]).fit(con)
    assert db_path.stat().st_mtime_ns == before


# ---- the command ---------------------------------------------------------------------------


def run_km(argv: list[str], capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="retention")
    add_km_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["km", *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_csv_prints_only_the_curve_table(db, capsys):
    code, out, _ = run_km(["--db", str(db[1]), "--by", "plan", "--format", "csv"], capsys)
    assert code == 0
    assert out.splitlines()[0] == "group,time_days,survival,ci_lower,ci_upper,at_risk,events,censored"
    table = pd.read_csv(io.StringIO(out))
    expected = KaplanMeier(by="plan").fit(db[0]).curves_
    assert len(table) == len(expected)
    np.testing.assert_allclose(table["survival"], expected["survival"], rtol=0, atol=1e-12)
    assert list(csv.reader(io.StringIO(out)))[1][:2] == ["Basic", "0"]


def test_cli_json_has_everything_and_no_nan(db, capsys):
    code, out, _ = run_km(["--db", str(db[1]), "--by", "plan", "--filter", "region!=APAC", "--format", "json"], capsys)
    assert code == 0
    result = json.loads(out)  # strict JSON: NaN and Infinity were turned into null
    for key in ("as_of", "n_accounts", "filters", "groups", "curves", "revenue_curves", "rmst", "rmst_differences",
                "logrank", "notes"):
        assert key in result
    assert result["as_of"] == AS_OF.isoformat()
    assert result["filters"][0] == {"column": "region", "operator": "!=", "value": "APAC", "text": "region!=APAC"}
    assert {g["group"] for g in result["groups"]} == {"Basic", "Plus", "Pro"}
    assert "median_ci_lower_days" in result["groups"][0]
    assert result["logrank"]["degrees_of_freedom"] == 2


def test_cli_table_shows_median_logrank_and_the_honest_note(db, capsys):
    code, out, _ = run_km(["--db", str(db[1]), "--by", "plan"], capsys)
    assert code == 0
    median = KaplanMeier(by="plan").fit(db[0]).summary_.set_index("group").loc["Basic", "median_survival_days"]
    assert f"median lifetime: {median:,.0f} days" in out
    assert "Log-rank test (3 groups)" in out
    assert "association, not causation" in out.lower()
    assert "censored there" in out and AS_OF.isoformat() in out


def test_cli_empty_filter_result_is_a_clear_message(db, capsys):
    code, out, err = run_km(["--db", str(db[1]), "--filter", "plan=Gold"], capsys)
    assert code == 2 and out == ""
    assert "no accounts match the filters plan=Gold" in err and "Traceback" not in err


def test_cli_missing_database_exits_2(tmp_path, capsys):
    from pipelines.cli import main

    # the shared opener raises an InputError, which the CLI's entry turns into exit 2 and a message
    code = main(["km", "--db", str(tmp_path / "none.duckdb")])
    _, err = capsys.readouterr()
    assert code == 2
    assert "no database here" in err and "retention build" in err


def test_cli_db_default_follows_retention_db(monkeypatch, tmp_path):
    monkeypatch.setenv("RETENTION_DB", str(tmp_path / "elsewhere.duckdb"))
    parser = argparse.ArgumentParser()
    add_km_parser(parser.add_subparsers())
    assert str(parser.parse_args(["km"]).db) == str(tmp_path / "elsewhere.duckdb")


@pytest.mark.parametrize("filters", [[], ["plan=Pro"]])
def test_missing_tables_are_named(tmp_path, filters):
    """The tables are looked up only once a query fails; the message must still name what is missing, whether
    the stored counts (no filters) or the accounts (a filter) were read first. A database that lacks a table every
    build has is no build: there is no fallback for it."""
    con = duckdb.connect(str(tmp_path / "partial.duckdb"))
    con.execute("create table account_survival as select 'A' as account_id, 10 as duration_days, 1 as churned, "
                "100.0 as mrr, 'Pro' as plan")
    con.execute("create table segment_columns as select 'plan' as column_name, 'categorical' as kind, "
                "1 as n_levels, 'plan' as source_column")
    with pytest.raises(SurvivalInputError, match="no km_segment_counts, build_info table; build it first"):
        KaplanMeier(by="plan", filters=filters).fit(con)
    con.close()
