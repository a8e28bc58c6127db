"""The demo generator: deterministic files that obey the input contract, with the effects it claims planted."""

from __future__ import annotations

import json
from datetime import timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

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
    for name in ("accounts", "interactions", "mrr_history", "planted_effects"):
        assert getattr(first, name).read_bytes() == getattr(again, name).read_bytes(), name
    assert first.accounts.read_bytes() != other.accounts.read_bytes()
    assert first.interactions.read_bytes() != other.interactions.read_bytes()
    # the temporary potential build is cleaned up: the folder holds exactly the four files
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "accounts.csv", "interactions.csv", "mrr_history.csv", "planted_effects.json"]


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


def test_demo_recovers_the_planted_effects_with_lifelines(tmp_path):
    """Independent check: lifelines' CoxTimeVaryingFitter on the panel the build makes from the demo files.

    Reference values are the planted hazard ratios (planted_effects.json); the model has the planted
    terms, log2 transforms, and a missing indicator for each NULL-able measure (NULL filled at the
    reference). Tolerance: the true ratio lies inside the fitted 95% interval."""
    from lifelines import CoxTimeVaryingFitter

    result = generate_demo(tmp_path / "demo", n_accounts=3000, seed=21, file_format="parquet")
    panel, _ = _build(result, tmp_path / "demo.duckdb")
    x = pd.DataFrame({"id": panel["account_id"], "start": panel["start_day"], "stop": panel["stop_day"],
                      "event": panel["churned"]})
    x["starter"] = (panel["plan"] == "Starter").astype(float)
    measures = {
        "log2_first_response": np.log2(panel["first_response_hours_median"].clip(lower=1 / 60) / 4.0),
        "reopen_10pp": (panel["reopen_rate"] - 0.10) / 0.10,
        "agent_update_10pp": (panel["agent_update_rate"] - 0.40) / 0.10,
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

    fitted = CoxTimeVaryingFitter().fit(x, id_col="id", start_col="start", stop_col="stop", event_col="event")
    summary = fitted.summary
    for covariate, truth in (("log2_first_response", 1.25), ("bad_2_plus", 2.2)):
        lower, upper = summary.loc[covariate, ["exp(coef) lower 95%", "exp(coef) upper 95%"]]
        assert lower <= truth <= upper, (covariate, lower, upper)

    # the ticket-volume trap: next to plan alone, ticket volume looks harmful although its planted effect
    # is none (plan is needed because Starter accounts are small, file few tickets and churn most)
    naive = CoxTimeVaryingFitter().fit(x[["id", "start", "stop", "event", "log2_tickets", "starter"]], id_col="id",
                                       start_col="start", stop_col="stop", event_col="event")
    assert naive.summary.loc["log2_tickets", "exp(coef) lower 95%"] > 1.05
    full_lower, full_upper = summary.loc["log2_tickets", ["exp(coef) lower 95%", "exp(coef) upper 95%"]]
    assert full_lower <= 1.0 <= full_upper
