"""At-risk accounts: the baseline hazard against lifelines, the 90-day probabilities, the stored tables and
the command (the time-split check is test_calibration's)."""

from __future__ import annotations

import argparse
import json
import shutil
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest
from lifelines import CoxTimeVaryingFitter

from pipelines.models.calibration import show_panel_at_cutoff
from pipelines.models.coxph import TimeVaryingCox, _risk_set_sums
from pipelines.models.drivers import build_design, panel_rows
from pipelines.sqlrun import execute_template
from pipelines.cli.risk import add_parser as add_risk_parser
from pipelines.models.risk import (
    AccountRisk,
    BaselineHazard,
    current_rows,
    design_matrix,
    max_tenure_days,
    store_risk,
    wilson_interval,
)


@pytest.fixture(scope="module")
def demo_risk(demo_con, demo_drivers):
    return AccountRisk().fit(demo_con, drivers=demo_drivers)


# --- the baseline cumulative hazard ---------------------------------------------------------------


def test_baseline_cumulative_hazard_matches_lifelines(small_demo_database):
    """Reference: lifelines CoxTimeVaryingFitter().fit(df, id_col, start_col, stop_col, event_col)
    .baseline_cumulative_hazard_ (Breslow, covariates at their means) on the same design; 1e-6."""
    with duckdb.connect(str(small_demo_database[0]), read_only=True) as con:
        panel = panel_rows(con, ["plan"])
    factors = ["first_response_hours", "reopen_rate", "agent_update_rate", "bad_interactions_90d"]
    design = build_design(panel, factors, ["plan"], {"plan": "categorical"})
    ours = TimeVaryingCox().fit(panel.start_day, panel.stop_day, panel.churned, design.X.to_numpy(),
                                list(design.X.columns))
    frame = design.X.set_axis([f"x{i}" for i in range(design.X.shape[1])], axis=1)
    frame = frame.assign(id=panel.account_id, start=panel.start_day, stop=panel.stop_day,
                         event=panel.churned.astype(bool))
    reference = CoxTimeVaryingFitter().fit(frame, id_col="id", start_col="start", stop_col="stop", event_col="event")
    expected = reference.baseline_cumulative_hazard_.iloc[:, 0]
    got = ours.baseline_cumulative_hazard_.iloc[:, 0]
    np.testing.assert_allclose(got.index.to_numpy(float), expected.index.to_numpy(float))
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-6, atol=1e-9)


def test_baseline_cumulative_hazard_efron_spreads_tied_churns():
    """Two churns tied at day 5 among three rows of equal risk: Breslow adds 2/3, Efron 1/3 + 1/2.5;
    the untied churn at day 7 adds 1/1 under both (one row left at risk)."""
    start = np.zeros(4)
    stop = np.array([5.0, 5.0, 7.0, 9.0])
    event = np.array([1, 1, 1, 0])
    X = np.array([[0.0], [1.0], [0.0], [1.0]])
    model = TimeVaryingCox(penalizer=1e6).fit(start, stop, event, X)  # beta ≈ 0: every row weighs the same
    assert abs(model.params_.iloc[0]) < 1e-5
    breslow = model.baseline_cumulative_hazard("breslow").iloc[:, 0].to_numpy()
    efron = model.baseline_cumulative_hazard("efron").iloc[:, 0].to_numpy()
    np.testing.assert_allclose(breslow, [2 / 4, 2 / 4 + 1 / 2], rtol=1e-4)
    np.testing.assert_allclose(efron, [1 / 4 + 1 / 3, 1 / 4 + 1 / 3 + 1 / 2], rtol=1e-4)


def test_baseline_hazard_moves_with_a_coefficient_draw_like_a_refit(demo_con, demo_drivers):
    """H0 for β̂ + δ via exp(-x̄·δ) on each increment is within 1.5% of Breslow recomputed at β̂ + δ, for
    draws from the coefficients' covariance; holding H0 fixed would be off by several percent."""
    model = demo_drivers.model_
    hazard = BaselineHazard(model, max_tenure_days(demo_con))
    centred = demo_drivers.design_.X.to_numpy() - model.means_
    rs = model._rs
    delta = np.random.default_rng(5).multivariate_normal(np.zeros(len(model.params_)),
                                                         model.variance_matrix_.to_numpy(), size=8)
    edges = hazard.band_edges_  # where the pooled baseline is Breslow's own
    tenures = edges[[2, len(edges) // 3, 2 * len(edges) // 3, len(edges) - 2]]
    moved = hazard.cumulative(tenures, delta)
    for b in range(len(delta)):
        w = np.exp(centred @ (model.params_.to_numpy() + delta[b]))
        s0 = _risk_set_sums(w, rs)
        exact = np.concatenate([[0.0], np.cumsum(rs.deaths / s0)])[np.searchsorted(rs.times, tenures, side="right")]
        np.testing.assert_allclose(moved[:, b], exact, rtol=0.015)


def test_baseline_hazard_extends_past_the_largest_tenure_with_the_last_year_average(demo_con, demo_drivers):
    hazard = BaselineHazard(demo_drivers.model_, max_tenure_days(demo_con))
    T = hazard.max_tenure_days_
    at_T, year_before = hazard.cumulative(np.array([T, T - 365]))
    rate = (at_T - year_before) / 365
    assert hazard.tail_rate_ == pytest.approx(rate, rel=1e-12)
    assert hazard.cumulative(np.array([T + 100.0]))[0] == pytest.approx(at_T + 100 * rate, rel=1e-12)


def test_baseline_hazard_is_breslow_at_each_band_edge_and_constant_within_bands_of_50_churns(demo_drivers, demo_con):
    hazard = BaselineHazard(demo_drivers.model_, max_tenure_days(demo_con))
    steps = demo_drivers.model_.baseline_cumulative_hazard_.iloc[:, 0]
    edges = hazard.band_edges_
    assert edges[0] == 0 and edges[-1] == hazard.max_tenure_days_ and np.all(np.diff(edges) > 0)
    # every band but the last closes at the event time where it reaches 50 churns; the last holds at least 50
    events = demo_drivers.model_.baseline_hazard_terms("breslow")["events"]
    per_band = [events[(events.index > lo) & (events.index <= hi)].sum() for lo, hi in zip(edges[:-1], edges[1:])]
    assert min(per_band) >= 50 and len(per_band) > 10
    assert hazard.cumulative(edges[1:-1]) == pytest.approx([steps[steps.index <= e].iloc[-1] for e in edges[1:-1]],
                                                           rel=1e-12)
    middle = (edges[3] + edges[4]) / 2
    assert hazard.cumulative(np.array([middle]))[0] == pytest.approx(hazard.cumulative(edges[3:5]).mean(), rel=1e-12)


# --- the scores ---------------------------------------------------------------------------------


def test_account_risk_probabilities_and_arr_at_risk(demo_risk):
    accounts = demo_risk.accounts_
    p = accounts.churn_probability.to_numpy()
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_array_equal(accounts.arr.to_numpy(), 12.0 * accounts.mrr.to_numpy())
    np.testing.assert_array_equal(accounts.arr_at_risk.to_numpy(), p * (12.0 * accounts.mrr.to_numpy()))


def test_account_risk_lists_only_active_accounts_ranked_by_probability(demo_con, demo_risk):
    accounts = demo_risk.accounts_
    active = {r[0] for r in demo_con.execute(
        "select account_id from account_survival where churned = 0 and duration_days > 0").fetchall()}
    assert set(accounts.account_id) == active
    assert accounts.account_id.is_unique
    assert accounts.risk_rank.tolist() == list(range(1, len(accounts) + 1))
    # equal to 12 decimals ranks by account id (the last bits depend on the order the panel was read in)
    assert np.all(np.diff(accounts.churn_probability.to_numpy()) <= 1e-12)
    tenure = dict(demo_con.execute("select account_id, duration_days from account_survival").fetchall())
    assert (accounts.tenure_days == accounts.account_id.map(tenure)).all()


def test_account_risk_probability_by_hand_for_one_account(demo_con, demo_drivers, demo_risk):
    """P = 1 - exp(-(H0(τ+90) - H0(τ)) · exp(Σ β_k (x_k - mean_k))) from the coefficients and Breslow's H0 at
    the tenure bands' edges, for the top-ranked account whose horizon stays inside the observed tenures."""
    model = demo_drivers.model_
    T = max_tenure_days(demo_con)
    eligible = (demo_risk.accounts_.tenure_days + 90 <= T) & demo_risk.accounts_.first_response_hours_median.notna()
    row = demo_risk.accounts_[eligible].iloc[0]
    panel_row = demo_con.execute(
        "select * from account_months where account_id = ? order by month_start desc limit 1", [row.account_id]).df()
    x = design_matrix(panel_row, demo_drivers).iloc[0]
    # the design row by hand for two terms: log2 of the median first response, and the plan dummy
    assert x["first_response_hours"] == np.log2(max(panel_row.first_response_hours_median[0], 1 / 60))
    assert x["plan=Growth"] == float(panel_row.plan[0] == "Growth")
    lp = sum(model.params_[k] * (x[k] - model.means_[i]) for i, k in enumerate(model.names_))
    steps = model.baseline_cumulative_hazard_.iloc[:, 0]
    breslow = lambda t: steps[steps.index <= t].iloc[-1] if (steps.index <= t).any() else 0.0  # noqa: E731
    # Breslow's H0 at the edges of the tenure bands, straight lines in between
    edges = BaselineHazard(model, T).band_edges_
    H = lambda t: np.interp(t, edges, [breslow(e) for e in edges])  # noqa: E731
    tau = row.tenure_days
    expected = 1 - np.exp(-(H(tau + 90) - H(tau)) * np.exp(lp))
    assert row.churn_probability == pytest.approx(expected, rel=1e-10)


def test_top_factors_name_the_largest_contributions_against_the_median(demo_drivers, demo_risk):
    """For each of the 20 riskiest accounts, the first named factor is the one whose Σ β·x is highest above
    that factor's median over all active accounts."""
    accounts = demo_risk.accounts_
    X = design_matrix(accounts, demo_drivers)
    beta = demo_drivers.model_.params_
    groups = demo_drivers.design_.terms.groupby("factor", sort=False)["term"].apply(list)
    contribution = pd.DataFrame({f: X[t].to_numpy() @ beta[t].to_numpy() for f, t in groups.items()})
    relative = contribution - contribution.median()
    labels = {"first_response_hours": "first response", "resolution_hours": "resolution time",
              "sla_breach_rate": "SLA breached", "reopen_rate": "reopened", "csat": "CSAT",
              "bad_interactions_90d": "bad interactions", "agent_update_rate": "proactive updates",
              "handoff_rate": "handed off", "escalation_rate": "escalated", "repeat_contact_rate": "repeat contacts",
              "tickets_90d": "tickets in", "credited_bad_interactions_90d": "credited bad", "plan": "plan",
              "high_priority_share": "urgent or high", "live_channel_share": "chat or phone"}
    for i in range(20):
        best = relative.iloc[i].idxmax()
        assert relative.iloc[i][best] > 0
        expected = labels.get(best, "no ")
        assert expected in accounts.top_factor_1[i], (accounts.top_factor_1[i], best)
    # an account with no factor above the typical one has no top factor (None)
    first_response = accounts.top_factor_1.str.startswith("first response", na=False)
    if first_response.any():
        text = accounts.top_factor_1[first_response].iloc[0]
        assert "h (typical " in text


# --- the holdout --------------------------------------------------------------------------------


# the query the join in current_panel_rows.sql replaced: the definition, one window ranking of each account's
# months, kept here as the reference
LATEST_ROW_BY_RANKING = """
    select * from account_months
    qualify row_number() over (partition by account_id order by month_start desc) = 1
"""


def test_risk_current_rows_equal_the_ranking_definition_and_the_rows_the_build_stored(demo_con):
    """On the default demo: the same rows, columns and order as ranking each account's months, whether computed
    from the panel or read from the build's current_panel_rows."""
    computed = current_rows(demo_con)
    expected = demo_con.execute(
        f"select * from ({LATEST_ROW_BY_RANKING}) where churned = 0 order by account_id").df()
    assert len(computed) > 1000
    pd.testing.assert_frame_equal(computed.drop(columns="tenure_days"), expected, check_exact=True)
    pd.testing.assert_frame_equal(current_rows(demo_con, stored=True), computed, check_exact=True)


def test_risk_holdout_panel_is_the_panel_as_it_stood_at_the_cutoff(build_rows):
    """Cutoff 2024-03-01: A churned before it (churn on its last row), B churns after it (rows stop at the
    cutoff, no churn), C signs up after it (absent)."""
    built = build_rows(
        [
            {"account_id": "A", "signup_date": "2024-01-10", "churn_date": "2024-02-20", "mrr": 100, "plan": "x"},
            {"account_id": "B", "signup_date": "2024-01-15", "churn_date": "2024-03-20", "mrr": 100, "plan": "x"},
            {"account_id": "C", "signup_date": "2024-03-05", "churn_date": "", "mrr": 100, "plan": "x"},
        ],
        [],
        as_of=date(2024, 4, 30),
    )
    with built.con.cursor() as past:
        show_panel_at_cutoff(past, date(2024, 3, 1))
        rows = past.execute("select * from account_months").df()
    # the build's own table, on every other cursor, is untouched
    assert built.con.execute("select count(*) from account_months where account_id = 'C'").fetchall()[0][0] > 0
    got = sorted((r.account_id, str(r.month_start.date()), r.start_day, r.stop_day, r.churned) for r in rows.itertuples())
    assert got == [
        ("A", "2024-01-01", 0, 22, 0),
        ("A", "2024-02-01", 22, 41, 1),
        ("B", "2024-01-01", 0, 17, 0),
        ("B", "2024-02-01", 17, 46, 0),
    ]
    outcomes = execute_template(built.con, "risk_holdout_outcomes", {"cutoff": date(2024, 3, 1)}).df()
    assert outcomes.to_dict("records") == [{"account_id": "B", "days_to_churn": 19}]


def test_wilson_interval_bounds_are_where_the_score_test_reaches_1_96():
    """Wilson's interval by its definition: the proportions p whose score statistic |p̂ - p| / sqrt(p(1-p)/n)
    equals 1.96, found here by root search (scipy brentq) rather than the closed form."""
    from scipy.optimize import brentq

    events, n = np.array([12, 0, 50, 3]), np.array([265, 50, 50, 7])
    lower, upper = wilson_interval(events, n)
    for k, m, lo, hi in zip(events, n, lower, upper):
        observed = k / m
        score = lambda p: abs(observed - p) / np.sqrt(p * (1 - p) / m) - 1.959963984540054  # noqa: E731
        expected_lo = 0.0 if k == 0 else brentq(score, 1e-12, min(observed, 1 - 1e-12))
        expected_hi = 1.0 if k == m else brentq(score, max(observed, 1e-12), 1 - 1e-12)
        assert (lo, hi) == pytest.approx((expected_lo, expected_hi), abs=1e-9)


# --- storing and the command --------------------------------------------------------------------


def test_store_risk_writes_account_risk_and_model_info(demo_database, demo_risk, tmp_path):
    path = tmp_path / "copy.duckdb"
    shutil.copy(demo_database[0], path)
    with duckdb.connect(str(path)) as con:
        assert store_risk(con, demo_risk) == len(demo_risk.accounts_)
        stored = con.execute("select * from account_risk order by risk_rank").df()
        info = json.loads(con.execute("select info_json from model_info where model = 'risk'").fetchall()[0][0])
        store_risk(con, None, error="no churn yet")
        empty = con.execute("select count(*) from account_risk").fetchone()[0]
        reason = json.loads(con.execute("select info_json from model_info where model = 'risk'").fetchall()[0][0])
    assert stored.columns[:9].tolist() == ["account_id", "risk_rank", "churn_probability_90d", "arr_at_risk", "mrr",
                                           "arr", "tenure_days", "top_factor_1", "top_factor_2"]
    assert {"first_response_hours_median", "sla_breach_rate", "plan", "region"} <= set(stored.columns)
    np.testing.assert_array_equal(stored.churn_probability_90d, demo_risk.accounts_.churn_probability)
    assert info["expected_churned_accounts"] == pytest.approx(demo_risk.accounts_.churn_probability.sum())
    assert (empty, reason["error"]) == (0, "no churn yet")


def _run(argv, capsys):
    parser = argparse.ArgumentParser()
    add_risk_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    code = args.func(args)
    return code, capsys.readouterr().out


def test_risk_command_csv_lists_the_top_accounts(demo_database, demo_risk, capsys):
    code, out = _run(["risk", "--db", str(demo_database[0]), "--top", "5", "--format", "csv"], capsys)
    frame = pd.read_csv(pd.io.common.StringIO(out))
    assert code == 0
    assert frame.account_id.tolist() == demo_risk.accounts_.account_id.head(5).tolist()
    assert frame.columns[2] == "churn_probability_90d"


def test_risk_command_json_reports_accounts_calibration_and_model(demo_database, capsys):
    code, out = _run(["risk", "--db", str(demo_database[0]), "--top", "3", "--format", "json"], capsys)
    payload = json.loads(out)
    assert code == 0
    assert set(payload) == {"accounts", "calibration", "model"}
    assert len(payload["accounts"]) == 3
    # the build's checks of the risk model: each horizon's overall row and its ten deciles
    checks = pd.DataFrame(payload["calibration"])
    assert sorted(checks.horizon_days.unique()) == [90, 365] and len(checks) == 22
    assert checks[checks.decile.isna()].concordance.gt(0.55).all()
