"""The demo generator: deterministic files that obey the input contract, with the effects it claims planted."""

from __future__ import annotations

import json
from datetime import timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipelines import demo as demo_module
from pipelines.build import build_database
from pipelines.demo import AS_OF, DemoError, generate_demo
from pipelines.settings import BuildSettings

SMALL = 600
SEED = 3
DAYS_PER_MONTH = 30.4375


def _read(result) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    accounts = pd.read_csv(result.accounts, dtype={"account_id": str}, parse_dates=["signup_date", "churn_date"])
    interactions = pd.read_csv(
        result.interactions,
        dtype={"interaction_id": str, "account_id": str, "csat": "Int64"},
        parse_dates=["created_at", "first_response_at", "resolved_at"],
    )
    mrr = pd.read_csv(result.mrr_history, dtype={"account_id": str}, parse_dates=["month"])
    return accounts, interactions, mrr


def _build(result, db_path):
    build_database(
        accounts=result.accounts,
        interactions=result.interactions,
        mrr_history=result.mrr_history,
        db_path=db_path,
        settings=BuildSettings(as_of=result.as_of),
    )
    with duckdb.connect(str(db_path), read_only=True) as con:
        panel = con.sql("select * from account_months order by account_id, start_day").df()
        load_report = con.sql("select * from load_report").df()
    return panel, load_report


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    result = generate_demo(tmp_path_factory.mktemp("demo"), n_accounts=SMALL, seed=SEED)
    accounts, interactions, mrr = _read(result)
    panel, load_report = _build(result, tmp_path_factory.mktemp("db") / "demo.duckdb")
    return {"result": result, "accounts": accounts, "interactions": interactions, "mrr": mrr,
            "panel": panel, "load_report": load_report}


def _monthly_churn(panel: pd.DataFrame) -> float:
    return panel["churned"].sum() / (panel["stop_day"] - panel["start_day"]).sum() * DAYS_PER_MONTH


def test_demo_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    first = generate_demo(tmp_path / "a", n_accounts=200, seed=11)
    again = generate_demo(tmp_path / "b", n_accounts=200, seed=11)
    other = generate_demo(tmp_path / "c", n_accounts=200, seed=12)
    for name in ("accounts", "interactions", "mrr_history", "planted_effects", "events"):
        assert getattr(first, name).read_bytes() == getattr(again, name).read_bytes(), name
    assert first.accounts.read_bytes() != other.accounts.read_bytes()
    assert first.interactions.read_bytes() != other.interactions.read_bytes()
    # the temporary builds are cleaned up: the folder holds exactly the five files
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "accounts.csv", "events.csv", "interactions.csv", "mrr_history.csv", "planted_effects.json"]


def test_demo_parquet_holds_the_same_rows_as_csv(tmp_path):
    as_csv = generate_demo(tmp_path / "csv", n_accounts=150, seed=5, file_format="csv")
    as_parquet = generate_demo(tmp_path / "parquet", n_accounts=150, seed=5, file_format="parquet")
    con = duckdb.connect()
    for name in ("accounts", "interactions", "mrr_history"):
        csv_rows = con.execute(
            "select * from read_csv($p, all_varchar = true)", {"p": str(getattr(as_csv, name))}
        ).fetchall()
        parquet_rows = con.execute(
            "select columns(*)::varchar from read_parquet($p)", {"p": str(getattr(as_parquet, name))}
        ).fetchall()
        assert csv_rows == parquet_rows, name


def test_demo_rejects_an_unknown_format(tmp_path):
    with pytest.raises(DemoError, match="csv or parquet"):
        generate_demo(tmp_path, n_accounts=10, file_format="xlsx")


def test_demo_files_pass_the_input_contract_without_a_reject(demo):
    report = demo["load_report"].set_index("source")
    assert report.loc["accounts", "rows_loaded"] == SMALL
    assert report.loc["interactions", "rows_loaded"] == demo["result"].n_interactions
    assert report[["rows_dropped", "values_nulled", "rows_after_as_of"]].to_numpy().sum() == 0


def test_demo_ids_are_unique_and_interactions_belong_to_accounts(demo):
    accounts, interactions = demo["accounts"], demo["interactions"]
    assert accounts["account_id"].is_unique and accounts["account_id"].str.fullmatch(r"A\d{6}").all()
    assert interactions["interaction_id"].is_unique
    assert interactions["account_id"].isin(accounts["account_id"]).all()
    # ids follow creation order
    assert interactions["created_at"].is_monotonic_increasing


def test_demo_timestamps_lie_within_each_account_life_and_before_as_of(demo):
    accounts, interactions = demo["accounts"], demo["interactions"]
    as_of_end = pd.Timestamp(AS_OF + timedelta(days=1))
    joined = interactions.merge(accounts, on="account_id")
    assert (joined["created_at"] >= joined["signup_date"]).all()
    churned = joined["churn_date"].notna()
    assert (joined.loc[churned, "created_at"] < joined.loc[churned, "churn_date"] + pd.Timedelta(days=1)).all()
    for column in ("created_at", "first_response_at", "resolved_at"):
        assert (joined[column].dropna() < as_of_end).all(), column
    assert (joined["first_response_at"] >= joined["created_at"]).where(joined["first_response_at"].notna(), True).all()
    assert (joined["resolved_at"] >= joined["first_response_at"]).where(joined["resolved_at"].notna(), True).all()
    assert (accounts["churn_date"].dropna() <= pd.Timestamp(AS_OF)).all()
    assert (accounts["churn_date"] > accounts["signup_date"]).where(accounts["churn_date"].notna(), True).all()


def test_demo_tickets_still_open_at_as_of_are_recent_and_unrated(demo):
    interactions = demo["interactions"]
    open_tickets = interactions[interactions["resolved_at"].isna()]
    assert len(open_tickets) > 0
    # a desk closes everything within 60 days, so an open ticket was created in the last 60 days
    assert (open_tickets["created_at"] >= pd.Timestamp(AS_OF - timedelta(days=60))).all()
    assert open_tickets["csat"].isna().all()
    assert (open_tickets["credit_amount"] == 0).all()


def test_demo_sizes_and_mixes_are_realistic(demo):
    accounts, interactions = demo["accounts"], demo["interactions"]
    assert 20 <= len(interactions) / SMALL <= 40  # ~150,000 interactions for 5,000 accounts
    never = 1 - interactions["account_id"].nunique() / SMALL
    assert 0.10 <= never <= 0.22
    assert 0.30 <= accounts["churn_date"].notna().mean() <= 0.50
    assert interactions["severity"].isin(["normal", "low"]).mean() >= 0.75
    assert 0.45 <= interactions["csat"].isna().mean() <= 0.75
    credited = (interactions["credit_amount"] > 0).mean()
    assert 0.03 <= credited <= 0.20
    median_mrr = accounts.groupby("plan")["mrr"].median()
    assert median_mrr["Starter"] < median_mrr["Growth"] < median_mrr["Business"] < median_mrr["Enterprise"]
    by_size = interactions.merge(accounts, on="account_id").groupby("company_size").size() / accounts.groupby(
        "company_size").size()
    assert by_size["1000+"] > 3 * by_size["1-10"]


def test_demo_planted_effects_document_lists_every_factor_with_its_hazard_ratio(demo):
    document = json.loads(demo["result"].planted_effects.read_text())
    assert document["seed"] == SEED and document["n_accounts"] == SMALL and document["as_of"] == "2026-06-30"
    effects = {(e["factor"], e["term"]): e for e in document["effects"]}
    expected = {
        ("first_response_hours", "per doubling"): ("quick", 1.25),
        ("reopen_rate", "per +10 pp"): ("complete resolution", 1.15),
        ("agent_update_rate", "per +10 pp"): ("keep me informed", 0.93),
        ("bad_interactions_90d", "1 vs 0"): ("pattern", 1.0),
        ("bad_interactions_90d", "2+ vs 0"): ("pattern", 2.2),
        ("credited_bad_interactions_90d", "any credited bad interaction"): ("pattern", 0.7),
        ("high_priority_share_90d", "per +10 pp"): ("case mix", 1.2),
        ("tickets_90d", "per doubling"): ("control", 1.0),
        ("plan", "plan=Starter"): ("segment", 1.8),
    }
    for key, (pillar, hazard_ratio) in expected.items():
        assert effects[key]["pillar"] == pillar and effects[key]["hazard_ratio"] == hazard_ratio, key
    assert effects[("first_response_hours", "per doubling")]["unit"] == "per doubling of the median first response time"
    nulls = {"sla_breach_rate", "csat", "handoff_rate", "escalation_rate", "repeat_contact_rate", "resolution_hours"}
    assert {f for (f, _), e in effects.items() if e["hazard_ratio"] == 1.0} >= nulls
    assert document["counts"]["churned"] == demo["accounts"]["churn_date"].notna().sum()
    assert document["counts"]["interactions"] == len(demo["interactions"])


def test_demo_churn_follows_the_panel_measures(demo):
    panel = demo["panel"]
    pattern = _monthly_churn(panel[panel["bad_interactions_90d"] >= 2])
    none = _monthly_churn(panel[panel["bad_interactions_90d"] == 0])
    assert pattern > 1.6 * none
    starter = _monthly_churn(panel[panel["plan"] == "Starter"])
    others = _monthly_churn(panel[panel["plan"] != "Starter"])
    assert starter > 1.4 * others
    # every churned account ends in exactly one churn row, strictly inside its last month
    assert panel["churned"].sum() == demo["accounts"]["churn_date"].notna().sum()


def test_demo_mrr_history_covers_each_customer_month_and_contracts_before_churn(demo):
    accounts, mrr = demo["accounts"], demo["mrr"]
    end = accounts["churn_date"].fillna(pd.Timestamp(AS_OF))
    months = (end.dt.year - accounts["signup_date"].dt.year) * 12 + end.dt.month - accounts["signup_date"].dt.month + 1
    rows = mrr.groupby("account_id").size().reindex(accounts["account_id"]).to_numpy()
    assert (rows == months.to_numpy()).all()
    assert (mrr["month"].dt.day == 1).all() and (mrr["mrr"] >= 0).all()
    last = mrr.sort_values("month").groupby("account_id")["mrr"].last().reindex(accounts["account_id"])
    assert np.allclose(last.to_numpy(), accounts["mrr"].to_numpy())

    ordered = mrr.sort_values(["account_id", "month"])
    three_back = ordered.groupby("account_id")["mrr"].shift(3)
    change = (ordered["mrr"] / three_back).groupby(ordered["account_id"]).last().reindex(accounts["account_id"])
    churned = accounts["churn_date"].notna().to_numpy()
    assert change[churned].median() < 0.85  # about 10% a month over the last three months
    grew = (ordered.groupby("account_id")["mrr"].last() > ordered.groupby("account_id")["mrr"].first()).reindex(
        accounts["account_id"])
    assert grew[~churned].mean() > 0.4  # healthy customers expand
    assert grew[churned].mean() < 0.15


@pytest.fixture(scope="module")
def mid_panel(tmp_path_factory):
    """The panel the build makes from a 3,000-account demo, as lifelines' covariates: the planted terms
    with their transforms and a missing indicator for each NULL-able measure (NULL filled at the reference)."""
    folder = tmp_path_factory.mktemp("mid_demo")
    result = generate_demo(folder / "demo", n_accounts=3000, seed=21, file_format="parquet")
    panel, _ = _build(result, folder / "demo.duckdb")
    return _covariates(panel)


def _covariates(panel: pd.DataFrame) -> pd.DataFrame:
    x = pd.DataFrame({"id": panel["account_id"], "start": panel["start_day"], "stop": panel["stop_day"],
                      "event": panel["churned"]})
    x["starter"] = (panel["plan"] == "Starter").astype(float)
    measures = {
        "log2_first_response": np.log2(panel["first_response_hours_median"].clip(lower=1 / 60) / 4.0),
        "reopen_10pp": (panel["reopen_rate"] - 0.10) / 0.10,
        "agent_update_10pp": (panel["agent_update_rate"] - 0.40) / 0.10,
        "high_priority_10pp": (panel["high_priority_share_90d"] - 0.20) / 0.10,
    }
    for name, values in measures.items():
        x[name] = values.fillna(0.0)
    x["first_response_missing"] = panel["first_response_hours_median"].isna().astype(float)
    # reopen and update rates are NULL together (nothing resolved yet): one indicator for both
    x["resolution_missing"] = panel["reopen_rate"].isna().astype(float)
    x["log2_tickets"] = np.log2(1.0 + panel["tickets_90d"])
    x["bad_1"] = (panel["bad_interactions_90d"] == 1).astype(float)
    x["bad_2_plus"] = (panel["bad_interactions_90d"] >= 2).astype(float)
    x["credited_bad"] = (panel["credited_bad_interactions_90d"] >= 1).astype(float)
    return x


SURVIVAL = ["id", "start", "stop", "event"]
# No missing indicator for the share: every demo ticket has a severity, so it is NULL only in a window
# without tickets, where first response is NULL too; the two indicators would differ in a handful of rows
# without a churn and drift apart without bound. Filled at its reference, as planted, it needs none.
CASE_MIX = ["high_priority_10pp"]
# the all-in-one model: every planted term but case mix (what a model without case-mix columns fits)
ALL_IN_ONE = ["starter", "log2_first_response", "first_response_missing", "reopen_10pp", "agent_update_10pp",
              "resolution_missing", "log2_tickets", "bad_1", "bad_2_plus", "credited_bad"]
# first response's own model: its confounders (plan, volume), none of its consequences
FIRST_RESPONSE_ALONE = ["starter", "log2_first_response", "first_response_missing", "log2_tickets"]


def _cox(x: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
    from lifelines import CoxTimeVaryingFitter

    fitted = CoxTimeVaryingFitter().fit(x[SURVIVAL + covariates], id_col="id", start_col="start", stop_col="stop",
                                        event_col="event")
    return fitted.summary.rename(columns={"exp(coef) lower 95%": "lower", "exp(coef) upper 95%": "upper"})


def test_demo_recovers_the_planted_effects_with_lifelines(mid_panel):
    """Independent check: lifelines' CoxTimeVaryingFitter on the panel the build makes from the demo files.

    Reference values are the planted hazard ratios (planted_effects.json); the model has every planted
    term. Tolerance: the true ratio lies inside the fitted 95% interval."""
    summary = _cox(mid_panel, ALL_IN_ONE + CASE_MIX)
    for covariate, truth in (("log2_first_response", 1.25), ("bad_2_plus", 2.2), ("high_priority_10pp", 1.2)):
        lower, upper = summary.loc[covariate, ["lower", "upper"]]
        assert lower <= truth <= upper, (covariate, lower, upper)

    # the ticket-volume trap: next to plan alone, ticket volume looks harmful although its planted effect
    # is none (plan is needed because Starter accounts are small, file few tickets and churn most)
    naive = _cox(mid_panel, ["log2_tickets", "starter"])
    assert naive.loc["log2_tickets", "lower"] > 1.05
    full_lower, full_upper = summary.loc["log2_tickets", ["lower", "upper"]]
    assert full_lower <= 1.0 <= full_upper


def test_demo_case_mix_makes_a_naive_first_response_effect_too_small(mid_panel):
    """Accounts in trouble file high and urgent tickets, which the priority queue answers faster, and churn
    more: left out, the high-priority share drags first response's hazard ratio down."""
    naive = _cox(mid_panel, FIRST_RESPONSE_ALONE)
    adjusted = _cox(mid_panel, FIRST_RESPONSE_ALONE + CASE_MIX)
    assert naive.loc["log2_first_response", "upper"] < adjusted.loc["log2_first_response", "exp(coef)"]
    assert naive.loc["log2_first_response", "upper"] < 1.25
    # adjusted for case mix but not for first response's consequences (SLA breaches, bad interactions), the
    # model measures the total effect: the direct 1.25 plus the mediated path, so not below 1.25
    assert adjusted.loc["log2_first_response", "upper"] >= 1.25


def test_default_demo_all_in_one_model_misses_first_response_until_case_mix_joins(demo_database):
    """The default demo (5,000 accounts, seed 7) is tuned so the all-in-one model's 95% interval for first
    response excludes the planted 1.25 without case mix and covers it with case mix."""
    with duckdb.connect(str(demo_database[0]), read_only=True) as con:
        x = _covariates(con.sql("select * from account_months order by account_id, start_day").df())
    naive = _cox(x, ALL_IN_ONE)
    adjusted = _cox(x, ALL_IN_ONE + CASE_MIX)
    assert naive.loc["log2_first_response", "upper"] < 1.25
    lower, upper = adjusted.loc["log2_first_response", ["lower", "upper"]]
    assert lower <= 1.25 <= upper, (lower, upper)


def test_demo_high_priority_tickets_are_answered_faster_and_come_with_more_churn(demo):
    panel = demo["panel"]
    busy = panel[panel["tickets_90d"] >= 5]
    troubled = busy[busy["high_priority_share_90d"] >= 0.4]
    calm = busy[busy["high_priority_share_90d"] <= 0.1]
    assert troubled["first_response_hours_median"].median() < 0.7 * calm["first_response_hours_median"].median()
    assert _monthly_churn(troubled) > 1.5 * _monthly_churn(calm)


# ---------------------------------------------------------------------------------------------------
# the true what-if


def test_demo_true_whatif_of_halving_first_response_adds_up(demo):
    document = json.loads(demo["result"].planted_effects.read_text())
    (whatif,) = document["true_whatif"]
    assert whatif["factor"] == "first_response_hours" and whatif["change"] == "-50%"
    assert whatif["horizon_days"] == 365
    assert whatif["active_accounts"] == demo["accounts"]["churn_date"].isna().sum()
    assert whatif["accounts_kept"] > 0 and whatif["arr_kept"] > 0
    assert whatif["accounts_kept"] == pytest.approx(
        whatif["expected_churned_today"] - whatif["expected_churned_with_change"], abs=1e-9)
    assert whatif["arr_kept"] == pytest.approx(
        whatif["expected_arr_lost_today"] - whatif["expected_arr_lost_with_change"], abs=1e-6)
    active = demo["accounts"][demo["accounts"]["churn_date"].isna()]
    assert whatif["active_arr"] == pytest.approx(12 * active["mrr"].sum(), abs=0.01)
    assert 0 < whatif["expected_churned_with_change"] < whatif["expected_churned_today"] < whatif["active_accounts"]
    # breaches and bad interactions fall with the response time: the total effect exceeds the direct one
    assert 0 < whatif["accounts_kept_with_mediators_held_fixed"] < whatif["accounts_kept"]
    assert whatif["direct_hazard_ratio_per_doubling"] == 1.25


def test_default_demo_true_whatif_regression_snapshot(demo_database):
    """Regression snapshot (not a validation): the default demo's true effect of halving first response,
    the figure the product's what-if is checked against."""
    whatif = json.loads(demo_database[1].planted_effects.read_text())["true_whatif"][0]
    assert whatif["active_accounts"] == 3118
    assert whatif["accounts_kept"] == pytest.approx(117.198, abs=1e-3)
    assert whatif["arr_kept"] == pytest.approx(1734560.23, abs=0.01)


def test_expected_churn_probability_follows_the_baseline_hazard():
    horizon = 365
    h0 = demo_module.baseline_cumulative_hazard(1000)
    tenure = np.array([0, 200, 600])
    at_reference = demo_module.expected_churn_probability(tenure, np.zeros(3), horizon)
    assert at_reference == pytest.approx(1 - np.exp(-(h0[tenure + horizon] - h0[tenure])))
    # about 25% a year at signup (2.5% a month falling), less once the tenure is longer
    assert 0.2 < at_reference[0] < 0.3 and at_reference[2] < at_reference[1] < at_reference[0]
    doubled = demo_module.expected_churn_probability(tenure, np.full(3, np.log(2.0)), horizon)
    assert doubled == pytest.approx(1 - (1 - at_reference) ** 2)


def _ticket(account: int, created: str, first_response_hours: float, csat: int = 0, severity: int = 1) -> dict:
    created_s = int(pd.Timestamp(created).timestamp())
    return {"account": account, "created": created_s, "first_response_s": int(first_response_hours * 3600),
            "resolution_s": 48 * 3600, "channel": 0, "severity": severity, "csat": csat, "reopens": 0,
            "handoffs": 0, "escalated": False, "agent_updates": 0, "credit": 0.0}


def test_rebuilt_latest_row_recomputes_sla_breaches_and_bad_interactions_from_halved_responses(tmp_path):
    """Literal rows: account 0 has three normal tickets in the latest row's window (first responses 10 h and
    12 h, both over the 8-hour target, and 2 h with CSAT 1) and one older ticket; account 1 none; account 2
    is not active. Halving every first response takes both over the target back under it."""
    signup = (pd.Timestamp("2026-01-05") - pd.Timestamp("1970-01-01")).days
    accounts = {"signup_day": np.full(3, signup, np.int32), "size": np.zeros(3, np.int8),
                "plan": np.array([1, 0, 1], np.int8), "region": np.zeros(3, np.int8),
                "industry": np.zeros(3, np.int8), "mrr0": np.array([400.0, 80.0, 400.0])}
    rows = [_ticket(0, "2026-01-10 10:00", 20.0), _ticket(0, "2026-05-04 10:00", 10.0),
            _ticket(0, "2026-05-11 10:00", 12.0), _ticket(0, "2026-05-18 10:00", 2.0, csat=1),
            _ticket(2, "2026-05-04 10:00", 30.0)]
    tickets = {key: np.array([row[key] for row in rows]) for key in rows[0]}
    tickets["account"] = tickets["account"].astype(np.int32)
    for key, dtype in (("first_response_s", np.int32), ("resolution_s", np.int32), ("severity", np.int8),
                       ("channel", np.int8), ("csat", np.int8), ("reopens", np.int16), ("handoffs", np.int16),
                       ("agent_updates", np.int16)):
        tickets[key] = tickets[key].astype(dtype)
    active = np.array([0, 1])

    def latest(factor: float) -> pd.DataFrame:
        with duckdb.connect() as con:
            con.execute("set TimeZone = 'UTC'")
            work = tmp_path / str(factor)
            work.mkdir()
            rows = demo_module.rebuilt_latest_rows(con, work, accounts, tickets, active, factor, lambda m: None)
        return pd.DataFrame(rows).set_index("account")

    today, halved = latest(1.0), latest(0.5)
    assert today.loc[0, "tickets_90d"] == halved.loc[0, "tickets_90d"] == 3  # the January ticket is outside
    assert today.loc[0, "first_response_hours_median"] == pytest.approx(10.0)
    assert halved.loc[0, "first_response_hours_median"] == pytest.approx(5.0)
    assert today.loc[0, "bad_interactions_90d"] == 3
    assert halved.loc[0, "bad_interactions_90d"] == 1  # the CSAT 1 stays bad
    assert today.loc[1, "tickets_90d"] == 0 and np.isnan(halved.loc[1, "first_response_hours_median"])
    assert list(halved.index) == [0, 1]
    # fewer bad interactions and a faster median: a lower planted hazard
    today_lp, halved_lp = (demo_module.panel_log_hazard_ratio({k: v.to_numpy() for k, v in f.reset_index().items()})
                           for f in (today, halved))
    assert halved_lp[0] == pytest.approx(today_lp[0] - np.log(1.25) - np.log(2.2))
    assert halved_lp[1] == today_lp[1]


def test_rebuilt_latest_rows_without_a_change_match_the_potential_panel(tmp_path):
    """The what-if build reads only the active accounts and their recent tickets: unchanged, it must give
    their latest rows exactly as the full potential build did."""
    rng = np.random.default_rng(5)
    accounts = demo_module._draw_accounts(rng, 300)
    tickets = demo_module._draw_interactions(rng, accounts, lambda m: None)
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        panel = demo_module._potential_panel(con, tmp_path, accounts, tickets, lambda m: None)
        log_hr = demo_module.panel_log_hazard_ratio(panel)
        churn_day = demo_module._draw_churn(rng, panel, log_hr, 300)
        latest = demo_module.latest_active_rows(panel, log_hr, churn_day)
        tickets = demo_module._drop_after_churn(tickets, accounts, churn_day)
        rebuilt = demo_module.rebuilt_latest_rows(con, tmp_path, accounts, tickets, latest["account"], 1.0,
                                                  lambda m: None)
    assert 0 < latest["account"].size < 300
    np.testing.assert_array_equal(demo_module.panel_log_hazard_ratio(rebuilt), latest["log_hr"])


def test_demo_planted_change_halves_emea_first_responses_from_its_date_and_keeps_accounts(demo):
    """The planted change: the EMEA accounts' tickets answered twice as fast from its date, the others' as before;
    its true effect (planted_effects.json) a hazard ratio below 1 and accounts kept, and events.csv records it."""
    document = json.loads(demo["result"].planted_effects.read_text())
    change = document["planted_change"]
    tickets = demo["interactions"].merge(demo["accounts"][["account_id", "region"]], on="account_id")
    hours = (tickets["first_response_at"] - tickets["created_at"]).dt.total_seconds() / 3600
    after = tickets["created_at"] >= pd.Timestamp(change["date"])
    emea = tickets["region"] == "EMEA"
    ratio_emea = np.log(hours[emea & after]).mean() - np.log(hours[emea & ~after]).mean()
    ratio_others = np.log(hours[~emea & after]).mean() - np.log(hours[~emea & ~after]).mean()
    assert ratio_emea - ratio_others == pytest.approx(np.log(0.5), abs=0.15)
    assert change["treated"] == ["region=EMEA"] and 0 < change["hazard_ratio"] < 1
    assert 0 < change["accounts_kept_since_change"] < change["reached_accounts_since_change"]
    assert 0 < change["accounts_kept_per_year"] < change["reached_active_accounts"]
    assert change["arr_kept_since_change"] > 0 and change["arr_kept_per_year"] > 0
    events = pd.read_csv(demo["result"].events)
    assert events.to_dict("records") == [{"name": change["name"], "date": change["date"], "treated": "region=EMEA"}]
