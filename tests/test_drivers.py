"""The drivers model: our Cox fitter against lifelines, planted-effect recovery, the ticket-volume trap."""

from __future__ import annotations

import io
import json
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, CoxTimeVaryingFitter

from pipelines.cli import main
from pipelines.models.coxph import TimeVaryingCox
from pipelines.models.drivers import FACTORS, ServiceDrivers, build_design, panel_rows


def read_panel(db_path, covariates=("plan",)) -> tuple[pd.DataFrame, dict]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        kinds = dict(con.execute("select column_name, kind from segment_columns").fetchall())
        return panel_rows(con, list(covariates)), kinds


def test_time_varying_cox_matches_lifelines_ctv(small_demo_database):
    """Reference: lifelines CoxTimeVaryingFitter (Efron ties) on the same design; tolerance 1e-6."""
    panel, kinds = read_panel(small_demo_database[0])
    design = build_design(panel, [f.name for f in FACTORS], ["plan"], kinds)
    frame = design.X.copy()
    frame.columns = [f"x{i}" for i in range(frame.shape[1])]
    frame[["id", "start", "stop", "event"]] = panel[["account_id", "start_day", "stop_day", "churned"]].to_numpy()
    frame = frame.astype({"start": float, "stop": float, "event": int})
    # lifelines stops Newton at its default precision (1e-7); tightened so both sit at the same optimum
    reference = CoxTimeVaryingFitter().fit(frame, id_col="id", start_col="start", stop_col="stop", event_col="event",
                                           fit_options={"precision": 1e-10})
    ours = TimeVaryingCox().fit(panel.start_day, panel.stop_day, panel.churned, design.X.to_numpy())
    np.testing.assert_allclose(ours.params_.to_numpy(), reference.params_.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(ours.standard_errors_.to_numpy(), reference.standard_errors_.to_numpy(), atol=1e-6)
    assert ours.log_likelihood_ == pytest.approx(reference.log_likelihood_, abs=1e-6)


def brute_force_concordance(start, stop, event, risk) -> float:
    """The definition, pair by pair: at each churn time t, the churning row against every row at risk at t
    (start < t <= stop) that does not churn at t; higher risk for the churner is concordant, equal risk half."""
    concordant = comparable = 0.0
    for i in np.flatnonzero(event):
        t = stop[i]
        for j in range(len(start)):
            if start[j] < t <= stop[j] and not (event[j] and stop[j] == t):
                comparable += 1
                concordant += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    return concordant / comparable


@pytest.mark.parametrize("seed", range(8))
def test_concordance_equals_the_pairwise_definition_with_ties(seed):
    """Exact equality with the O(n²) definition on small random (start, stop] panels whose covariates take a
    few values (many rows share a risk) and whose integer times tie (several churns at one time)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(40, 250))
    start = rng.integers(0, 12, n).astype(float)
    stop = start + rng.integers(1, 6, n)
    event = rng.random(n) < 0.35
    X = np.column_stack([rng.integers(0, 3, n), rng.integers(0, 2, n)]).astype(float)
    model = TimeVaryingCox(penalizer=0.1).fit(start, stop, event, X)
    # one risk per distinct covariate row, so equal rows tie exactly (as concordance() must treat them)
    rows, inverse = np.unique(model._Z, axis=0, return_inverse=True)
    risk = (rows @ model._z_beta)[inverse.ravel()]
    assert np.diff(np.unique(risk)).min() > 1e-9  # distinct rows are not within rounding of each other
    assert np.unique(risk).size < n / 4 and np.unique(stop[event]).size < event.sum()  # ties in both
    assert model.concordance() == brute_force_concordance(start, stop, event, risk)


def test_panel_fit_with_time_fixed_covariates_equals_coxph_per_account(small_demo_database):
    """With time-fixed covariates the month split changes nothing: lifelines CoxPHFitter (Efron) on one row
    per account gives the same coefficients, 1e-6."""
    db_path = small_demo_database[0]
    panel, kinds = read_panel(db_path, covariates=("plan", "company_size"))
    design = build_design(panel, [], ["plan", "company_size"], kinds)
    ours = TimeVaryingCox().fit(panel.start_day, panel.stop_day, panel.churned, design.X.to_numpy(),
                                list(design.X.columns))
    with duckdb.connect(str(db_path), read_only=True) as con:
        accounts = con.execute(
            "select duration_days, churned, plan, company_size from account_survival where duration_days > 0"
        ).df()
    per_account = pd.DataFrame({term: 0.0 for term in design.X.columns}, index=accounts.index)
    for term in design.X.columns:
        column, level = term.split("=", 1)
        per_account[term] = (accounts[column] == level).astype(float)
    per_account["duration"] = accounts.duration_days.astype(float)
    per_account["event"] = accounts.churned
    reference = CoxPHFitter().fit(per_account, duration_col="duration", event_col="event",
                                  fit_options={"precision": 1e-10})
    np.testing.assert_allclose(ours.params_.to_numpy(), reference.params_[design.X.columns].to_numpy(), atol=1e-6)


def planted(demo) -> dict[tuple[str, str], float]:
    effects = json.loads(demo.planted_effects.read_text())["effects"]
    return {(e["factor"], e["term"]): e["hazard_ratio"] for e in effects}


@pytest.fixture(scope="module")
def default_drivers(demo_database):
    with duckdb.connect(str(demo_database[0]), read_only=True) as con:
        return ServiceDrivers().fit(con)


# planted (factor, term) -> our model's term
PLANTED_TERMS = {
    ("first_response_hours", "per doubling"): "first_response_hours",
    ("reopen_rate", "per +10 pp"): "reopen_rate",
    ("agent_update_rate", "per +10 pp"): "agent_update_rate",
    ("bad_interactions_90d", "1 vs 0"): "bad_interactions_90d: 1 vs 0",
    ("bad_interactions_90d", "2+ vs 0"): "bad_interactions_90d: 2+ vs 0",
    ("credited_bad_interactions_90d", "any credited bad interaction"): "credited_bad_interactions_90d",
    ("tickets_90d", "per doubling"): "tickets_90d",
}


# The goodwill credit is left out: on this seed the mutually adjusted model's interval misses the planted value by
# chance (lifelines on the same panel agrees, as test_time_varying_cox_matches_lifelines_ctv checks for every
# term). Where chance can be told from bias, over ten demo seeds, tests/test_demo_seeds.py checks the coverage of the
# credit's own model, adjusted for the bad interactions and their parts as this model is.
COVERED_ON_THIS_SEED = [key for key in PLANTED_TERMS if key[0] != "credited_bad_interactions_90d"]


@pytest.mark.parametrize("planted_key", COVERED_ON_THIS_SEED, ids=[PLANTED_TERMS[k] for k in COVERED_ON_THIS_SEED])
def test_drivers_recover_each_planted_service_effect(default_drivers, demo_database, planted_key):
    truth = planted(demo_database[1])[planted_key]
    row = default_drivers.effects_.set_index("term").loc[PLANTED_TERMS[planted_key]]
    assert row.ci_lower <= truth <= row.ci_upper, (planted_key, truth, row.hazard_ratio, row.ci_lower, row.ci_upper)


def test_drivers_recover_the_plan_effect(default_drivers, demo_database):
    truth = planted(demo_database[1])[("plan", "plan=Starter")]
    effects = default_drivers.effects_.set_index("term")
    # Starter is the most common plan, so the other plans are the terms: each should be 1/1.8 vs Starter
    other_plans = [t for t in effects.index if t.startswith("plan=")]
    assert other_plans and "plan=Starter" not in other_plans
    for term in other_plans:
        assert effects.loc[term, "ci_lower"] <= 1 / truth <= effects.loc[term, "ci_upper"], term


def test_drivers_ticket_volume_trap(demo_database, default_drivers):
    """Naive analyses mislead about ticket volume; the full panel model finds the planted null.

    (Tickets per active month as a time-fixed covariate also leans harmful on this demo, HR about 1.03 per
    doubling, but its interval includes 1, so it is not asserted here.)"""
    db_path = demo_database[0]
    with duckdb.connect(str(db_path), read_only=True) as con:
        volume_only = ServiceDrivers(factors=["tickets_90d"], covariates=[]).fit(con)
        accounts = con.execute(
            "select duration_days, churned, n_interactions_lifetime from account_survival where duration_days > 0"
        ).df()
    # 1. the panel with volume alone: unhappy accounts file more tickets, so volume looks harmful
    alone = volume_only.effects_.set_index("term").loc["tickets_90d"]
    assert alone.ci_lower > 1.0
    # 2. lifetime ticket counts: early churners had less time to file any, so volume looks protective
    accounts["log2_lifetime_tickets"] = np.log2(1 + accounts.n_interactions_lifetime)
    lifetime = CoxPHFitter().fit(accounts[["duration_days", "churned", "log2_lifetime_tickets"]],
                                 duration_col="duration_days", event_col="churned")
    assert lifetime.summary.loc["log2_lifetime_tickets", "exp(coef) upper 95%"] < 1.0
    # 3. the full panel model: the planted null
    full = default_drivers.effects_.set_index("term").loc["tickets_90d"]
    assert full.ci_lower <= 1.0 <= full.ci_upper


def test_drivers_model_info_describes_the_fit(default_drivers, demo_database):
    info = default_drivers.model_info_
    with duckdb.connect(str(demo_database[0]), read_only=True) as con:
        n_rows, n_events, n_accounts = con.execute(
            "select count(*), sum(churned), count(distinct account_id) from account_months").fetchone()
    assert (info["n_account_months"], info["n_events"], info["n_accounts"]) == (n_rows, n_events, n_accounts)
    assert 0.6 < info["concordance"] < 0.9
    assert info["penalizer"] == 0.0 and info["dropped_terms"] == []


def test_drivers_above_the_sample_cap_fit_a_named_random_sample_of_whole_accounts(small_demo_database):
    with duckdb.connect(str(small_demo_database[0]), read_only=True) as con:
        n_accounts = con.execute("select count(distinct account_id) from account_months").fetchone()[0]
        sampled = ServiceDrivers(max_accounts=400, sample_seed=3).fit(con)
        again = ServiceDrivers(max_accounts=400, sample_seed=3).fit(con)
        exact = ServiceDrivers(max_accounts=None).fit(con)
        under_cap = ServiceDrivers(max_accounts=n_accounts).fit(con)
        months_of_sample = con.execute(
            "select count(*) from account_months where account_id in (select unnest($ids))",
            {"ids": list(sampled.sampled_account_ids_)}).fetchone()[0]
    info = sampled.model_info_
    assert info["sample"] == {"accounts_total": n_accounts, "accounts_fitted": 400, "seed": 3}
    assert info["n_accounts"] == 400 and info["n_account_months"] == months_of_sample  # every month of each
    assert any("random sample of 400 of the" in note for note in info["notes"])
    np.testing.assert_array_equal(sampled.effects_.coef, again.effects_.coef)  # the seed fixes the sample
    assert exact.model_info_["sample"] is None and exact.model_info_["n_accounts"] == n_accounts
    np.testing.assert_array_equal(under_cap.effects_.coef, exact.effects_.coef)
    # a term whose months in the sample hold no churn cannot be estimated there and is named instead
    left_out = set(exact.effects_.term) - set(sampled.effects_.term)
    assert all(d["reason"].startswith("not estimable") for d in info["dropped_terms"] if d["term"] in left_out)
    assert left_out <= {d["term"] for d in info["dropped_terms"]}
    # a sample has fewer events, so its intervals are wider (the measures and plan: a missing indicator's
    # interval also depends on which of the near-collinear other indicators are in the model)
    widths = lambda fit: (np.log(fit.effects_.ci_upper) - np.log(fit.effects_.ci_lower)).set_axis(  # noqa: E731
        fit.effects_.term)[lambda w: ~w.index.str.startswith("missing: ")]
    assert (widths(sampled) > widths(exact)[widths(sampled).index]).all()


def test_the_same_panel_stored_in_another_order_gives_the_same_fit_to_the_last_bit(small_demo_database, tmp_path):
    """A build inserts the panel from parallel threads, so two builds of the same inputs store its rows in different
    orders; the fits read them in one order, so the same inputs give the same stored numbers."""
    shuffled_path = tmp_path / "shuffled.duckdb"
    with duckdb.connect(str(shuffled_path)) as shuffled:
        shuffled.execute(f"attach '{small_demo_database[0]}' as built (read_only)")
        for table in ("segment_columns", "account_survival"):
            shuffled.execute(f"create table {table} as select * from built.{table}")
        shuffled.execute("create table account_months as select * from built.account_months order by hash(account_id, "
                         "month_start)")
        shuffled.execute("detach built")
    fits = []
    for path in (small_demo_database[0], shuffled_path):
        with duckdb.connect(str(path), read_only=True) as con:
            fits.append((ServiceDrivers(max_accounts=None).fit(con),
                         ServiceDrivers(max_accounts=400, sample_seed=3).fit(con)))
    for stored, reordered in zip(*fits):
        np.testing.assert_array_equal(stored.effects_.coef, reordered.effects_.coef)
        np.testing.assert_array_equal(stored.effects_.ci_upper, reordered.effects_.ci_upper)
        assert stored.model_.iterations_ == reordered.model_.iterations_


@pytest.mark.parametrize("filters, where", [(["plan=Starter"], "plan = 'Starter'"),
                                            (["signup_cohort_month>=2026-05"], "signup_cohort_month >= '2026-05-01'")])
def test_filtered_fit_reads_every_month_of_the_filtered_accounts_with_panel_rows(small_demo_database, filters, where):
    """A filtered fit's accounts are those passing the filters that have a panel row, and its rows are all of their
    months: counted here from account_months joined to account_survival (the read takes another route to them)."""
    with duckdb.connect(str(small_demo_database[0]), read_only=True) as con:
        panel, _, n_accounts, sample = ServiceDrivers(filters=filters).read_panel(con)
        expected_accounts, expected_months, expected_churns = con.execute(
            "select count(distinct m.account_id), count(*), sum(m.churned) from account_months as m "
            f"join account_survival as a using (account_id) where a.{where}").fetchone()
    assert sample is None and 0 < n_accounts == expected_accounts
    assert len(panel) == expected_months and panel.churned.sum() == expected_churns


@pytest.mark.parametrize("filters", [["plan=Starter"], ["company_size=11-50"]])
def test_filtered_refit_started_from_the_full_fit_reaches_the_cold_fits_optimum(demo_database, default_drivers,
                                                                               filters):
    """The app starts a filtered refit from the build's coefficients (terms it lacks, like the plan terms
    under a plan filter, start at 0). The partial likelihood is concave, so both runs of Newton end at the
    same optimum: coefficients, standard errors, log-likelihood and concordance agree to 1e-8."""
    with duckdb.connect(str(demo_database[0]), read_only=True) as con:
        cold = ServiceDrivers(filters=filters).fit(con)
        warm = ServiceDrivers(filters=filters, start_from=default_drivers.model_.params_.to_dict()).fit(con)
    assert warm.model_info_["warm_start"] and not cold.model_info_["warm_start"]
    assert warm.effects_.term.tolist() == cold.effects_.term.tolist()
    np.testing.assert_allclose(warm.effects_.coef, cold.effects_.coef, rtol=0, atol=1e-8)
    np.testing.assert_allclose(warm.effects_.se, cold.effects_.se, rtol=0, atol=1e-8)
    assert warm.model_.log_likelihood_ == pytest.approx(cold.model_.log_likelihood_, rel=0, abs=1e-8)
    assert warm.model_info_["concordance"] == pytest.approx(cold.model_info_["concordance"], rel=0, abs=1e-8)
    assert warm.model_.iterations_ <= cold.model_.iterations_  # a start near the optimum saves steps, at most


def test_cox_start_far_from_the_optimum_still_converges_to_it(small_demo_database):
    """A bad start (coefficients of the wrong sign, or large enough to overflow exp) costs steps, not accuracy."""
    panel, kinds = read_panel(small_demo_database[0])
    design = build_design(panel, [f.name for f in FACTORS], ["plan"], kinds)
    X = design.X.to_numpy()
    cold = TimeVaryingCox().fit(panel.start_day, panel.stop_day, panel.churned, X)
    for initial in (-3 * cold.params_.to_numpy(), np.full(X.shape[1], 1e3)):
        warm = TimeVaryingCox().fit(panel.start_day, panel.stop_day, panel.churned, X, initial=initial)
        np.testing.assert_allclose(warm.params_, cold.params_, rtol=0, atol=1e-8)
    with pytest.raises(ValueError, match="finite coefficients"):
        TimeVaryingCox().fit(panel.start_day, panel.stop_day, panel.churned, X, initial=[0.0])


def test_build_stores_driver_effects_and_model_info(demo_database, default_drivers):
    with duckdb.connect(str(demo_database[0]), read_only=True) as con:
        stored = con.execute("select term, hazard_ratio from driver_effects").df().set_index("term")
        info = json.loads(con.execute("select info_json from model_info where model = 'service_drivers'").fetchone()[0])
    fitted = default_drivers.effects_.set_index("term")
    np.testing.assert_allclose(stored.loc[fitted.index, "hazard_ratio"], fitted.hazard_ratio, rtol=1e-12)
    assert info["n_events"] == default_drivers.model_info_["n_events"]


def test_drivers_with_no_interaction_data_fit_account_covariates_alone(build_rows):
    rng = np.random.default_rng(3)
    accounts = []
    for i in range(120):
        plan = "Starter" if i % 3 == 0 else "Growth"
        lifetime = int(rng.exponential(200 if plan == "Starter" else 500)) + 1
        churn = pd.Timestamp("2023-01-01") + pd.Timedelta(days=lifetime)
        accounts.append({"account_id": f"A{i}", "signup_date": "2023-01-01", "mrr": "10", "plan": plan,
                         "churn_date": churn.date().isoformat() if lifetime < 700 else ""})
    built = build_rows(accounts, [], as_of=date(2024, 12, 1))
    drivers = ServiceDrivers().fit(built.con)
    assert drivers.effects_.term.tolist() == ["plan=Starter"]
    reasons = {d["term"]: d["reason"] for d in drivers.model_info_["dropped_terms"]}
    assert reasons["csat"].startswith("not available") and "constant" in reasons["tickets_90d"]
    assert drivers.effects_.hazard_ratio.iloc[0] > 1.5


def test_proportional_hazards_test_flags_a_time_varying_effect():
    """x doubles the hazard in the first 100 days and halves it after: the test must flag x, not z."""
    rng = np.random.default_rng(5)
    n = 3000
    x = rng.integers(0, 2, n).astype(float)
    z = rng.integers(0, 2, n).astype(float)
    early = rng.exponential(100 / (np.exp(np.log(2.0) * x + 0.3 * z)))
    late = 100 + rng.exponential(100 / (np.exp(np.log(0.5) * x + 0.3 * z)))
    time = np.where(early < 100, early, late)
    censor = rng.uniform(50, 400, n)
    stop = np.ceil(np.minimum(time, censor))
    event = time <= censor
    X = np.column_stack([x, z])
    model = TimeVaryingCox().fit(np.zeros(n), stop, event, X, ["x", "z"])
    tests = model.proportional_hazards_tests(X).set_index("term")
    assert tests.loc["x", "ph_p_value"] < 1e-4
    assert tests.loc["z", "ph_p_value"] > 0.01


def test_cli_drivers_formats(demo_database, capsys):
    db = str(demo_database[0])
    assert main(["drivers", "--db", db, "--format", "csv", "--factors", "first_response_hours,csat"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(table.columns[:8]) == ["model", "factor", "level", "unit", "hazard ratio", "95% CI lower",
                                       "95% CI upper", "p-value"]
    # each factor's own model first, the one to act on, with what it was adjusted for and its E-values
    own = table[table.model == "each factor's own model"]
    assert list(own.factor) == ["first response time", "CSAT"] and own["E-value"].gt(1).all()
    first_response = own.iloc[0]
    assert "plan" in first_response["adjusted for"]
    assert "SLA breach rate" in first_response["not adjusted for (its consequences)"]
    adjusted = table[table.model == "mutually adjusted"].set_index("model term")
    assert adjusted.loc["first_response_hours", "unit"].startswith("per doubling")
    assert (table["hazard ratio"] == table["hazard ratio"].round(2)).all()
    assert main(["drivers", "--db", db, "--format", "json", "--factors", "reopen_rate", "--covariates", ""]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"effects", "model", "factor_effects_notes", "causal_structure"}
    assert payload["causal_structure"] == "the built-in causal structure"
    reopen, *adjusted = payload["effects"]
    assert reopen["model"] == "each factor's own model" and reopen["factor"] == "reopen rate"
    assert "resolution time" in reopen["adjusted for"] and reopen["E-value"] > 1
    assert adjusted[0]["model term"] == "reopen_rate" and adjusted[0]["E-value"] is None
    assert main(["drivers", "--db", db, "--sample", "2000", "--factors", "reopen_rate"]) == 0
    out = capsys.readouterr().out
    assert "(a random sample of 2,000 of 5,000 accounts, seed 7; --sample 0 fits every account)" in out
    assert "note: fitted on a random sample of 2,000 of the 5,000 accounts" in out
    assert main(["drivers", "--db", db, "--factors", "speed"]) == 2
    assert "unknown factor ['speed']" in capsys.readouterr().err


def test_drivers_leave_out_and_name_terms_with_no_finite_estimate():
    """Planted on generated accounts: a plan level with no churn (its hazard ratio would run to 0), and two
    missing indicators, one containing the other, whose difference has no churn (the pair would run to -inf and
    +inf together). Both are left out before the fit and named; the identified terms' estimates are those of a
    fit on the design without them (the same optimum: leaving them out removes only the flat direction)."""
    rng = np.random.default_rng(13)
    n = 1500
    plan = rng.choice(["Starter", "Growth", "Legacy"], n, p=[0.6, 0.3, 0.1])
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    hazard = np.exp(0.5 * x1 - 0.3 * x2 + 0.4 * (plan == "Growth")) / 200
    time = rng.exponential(1 / hazard)
    censor = rng.uniform(100, 600, n)
    churned = (time <= censor) & (plan != "Legacy")
    stop = np.ceil(np.where(churned, time, censor))
    # x2 is missing on some rows, x1 on those and on a few more, none of which churns
    x2_missing = rng.random(n) < 0.2
    x1_missing = x2_missing | ((rng.random(n) < 0.05) & ~churned)
    panel = pd.DataFrame({"start_day": 0.0, "stop_day": stop, "churned": churned, "plan": plan,
                          "x1": np.where(x1_missing, np.nan, x1), "x2": np.where(x2_missing, np.nan, x2)})
    kinds = {"plan": "categorical", "x1": "numeric", "x2": "numeric"}
    drivers = ServiceDrivers(factors=[], covariates=["plan", "x1", "x2"]).fit_panel(panel, kinds, n_accounts=n)

    reasons = {d["term"]: d["reason"] for d in drivers.model_info_["dropped_terms"]}
    legacy_rows = int((plan == "Legacy").sum())
    assert reasons["plan=Legacy"] == (f"not estimable: no churns among the {legacy_rows:,} account-months "
                                      "with plan=Legacy")
    between = int((x1_missing & ~x2_missing).sum())
    assert reasons["missing: x2"] == (f"not estimable: no churns among the {between:,} account-months with x1 "
                                      "missing but not x2 missing, so it cannot be told apart from missing: x1")
    assert set(drivers.effects_.term) == {"plan=Growth", "x1", "x2", "missing: x1"}

    full = build_design(panel, [], ["plan", "x1", "x2"], kinds)
    assert {"plan=Legacy", "missing: x2"} <= set(full.X.columns)  # the design had them; the fit left them out
    kept = [t for t in full.X.columns if t not in ("plan=Legacy", "missing: x2")]
    reference = TimeVaryingCox().fit(panel.start_day, panel.stop_day, panel.churned, full.X[kept].to_numpy(), kept)
    np.testing.assert_allclose(drivers.model_.params_[kept].to_numpy(), reference.params_.to_numpy(), rtol=1e-12)
    # with the terms in, Newton stops on the flat direction: the meaningless numbers the drop avoids
    walked_off = TimeVaryingCox().fit(panel.start_day, panel.stop_day, panel.churned, full.X.to_numpy(),
                                      list(full.X.columns))
    assert walked_off.params_["plan=Legacy"] < -10 and walked_off.standard_errors_["plan=Legacy"] > 100
