"""The demo's planted churn causes (generate_demo(involuntary_share=...)): voluntary and involuntary churn as competing
risks, each churn's reason in the accounts file, and the truths planted_effects.json claims about them."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest
from test_demo import ALL_IN_ONE, CASE_MIX, _cox, _covariates

from pipelines import churn_reasons
from pipelines import demo as demo_module
from pipelines.build import build_database
from pipelines.demo import DemoError, generate_demo
from pipelines.settings import BuildSettings

N_ACCOUNTS = 2500
SEED = 7
SHARE = 1 / 3


def _accounts(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"account_id": str, "churn_reason": str}, keep_default_na=False,
                       na_values={"churn_date": [""]}, parse_dates=["signup_date", "churn_date"])


@pytest.fixture(scope="module")
def causes_demo(tmp_path_factory):
    """A 2,500-account demo with a third of churn involuntary, built, with its panel and each churn's cause."""
    folder = tmp_path_factory.mktemp("causes_demo")
    result = generate_demo(folder / "demo", n_accounts=N_ACCOUNTS, seed=SEED, involuntary_share=SHARE)
    db_path = folder / "demo.duckdb"
    # the data alone: these tests fit their own models on the panel
    build_database(accounts=result.accounts, interactions=result.interactions, mrr_history=result.mrr_history,
                   db_path=db_path, settings=BuildSettings(as_of=result.as_of, fit_models=False))
    with duckdb.connect(str(db_path), read_only=True) as con:
        panel = con.sql("select * from account_months order by account_id, start_day").df()
        survival = con.sql("select account_id, churned, churn_cause from account_survival").df()
    return {"result": result, "document": json.loads(result.planted_effects.read_text()),
            "accounts": _accounts(result.accounts), "panel": panel, "survival": survival}


def test_demo_causes_same_seed_and_share_give_identical_files(tmp_path):
    first = generate_demo(tmp_path / "a", n_accounts=200, seed=11, involuntary_share=SHARE)
    again = generate_demo(tmp_path / "b", n_accounts=200, seed=11, involuntary_share=SHARE)
    for name in ("accounts", "interactions", "mrr_history", "planted_effects"):
        assert getattr(first, name).read_bytes() == getattr(again, name).read_bytes(), name
    assert list(_accounts(first.accounts).columns)[-1] == "churn_reason"


def test_demo_causes_share_zero_gives_the_default_files_without_a_reason_column(tmp_path):
    default = generate_demo(tmp_path / "default", n_accounts=200, seed=11, file_format="parquet")
    zero = generate_demo(tmp_path / "zero", n_accounts=200, seed=11, file_format="parquet", involuntary_share=0.0)
    for name in ("accounts", "interactions", "mrr_history", "planted_effects"):
        assert getattr(default, name).read_bytes() == getattr(zero, name).read_bytes(), name
    with duckdb.connect() as con:
        columns = con.execute("select * from read_parquet($p) limit 0", {"p": str(zero.accounts)}).df().columns
    assert "churn_reason" not in columns
    assert "causes" not in json.loads(zero.planted_effects.read_text())


@pytest.mark.parametrize("share", [-0.1, 1.0, "0.3", True, float("nan")])
def test_demo_causes_reject_a_share_outside_zero_to_one(tmp_path, share):
    with pytest.raises(DemoError, match="involuntary share"):
        generate_demo(tmp_path, n_accounts=10, involuntary_share=share)


def test_demo_causes_keep_the_voluntary_churns_of_the_demo_without_causes(causes_demo, tmp_path):
    """The involuntary draws come from a stream of their own: a voluntary churn happens on the day it happens
    without causes, and an involuntary one comes before any voluntary churn the account would have had."""
    plain = _accounts(generate_demo(tmp_path, n_accounts=N_ACCOUNTS, seed=SEED).accounts).set_index("account_id")
    accounts = causes_demo["accounts"].set_index("account_id")
    without_causes = plain.loc[accounts.index, "churn_date"]
    voluntary = accounts["churn_reason"].isin(demo_module.VOLUNTARY_REASONS)
    involuntary = accounts["churn_reason"].isin(demo_module.INVOLUNTARY_REASONS)
    assert voluntary.sum() > 0 and involuntary.sum() > 0
    assert (accounts.loc[voluntary, "churn_date"] == without_causes[voluntary]).all()
    earlier = accounts.loc[involuntary, "churn_date"] <= without_causes[involuntary]
    assert (earlier | without_causes[involuntary].isna()).all()
    # a customer at the as-of date had no voluntary churn either
    assert without_causes[accounts["churn_date"].isna()].isna().all()
    assert (plain["signup_date"] == accounts["signup_date"]).all()


def test_demo_causes_realised_involuntary_share_is_near_the_share_asked(causes_demo):
    """Tolerance 0.05: with about 1,200 churns the involuntary share's binomial standard deviation is about 0.014,
    so three of them are 0.04; the baseline's calibration (each month's churn split in proportion to the two
    hazards, the voluntary baseline drifting slowly within it) is off by under 0.001 from the exact daily split."""
    causes = causes_demo["document"]["causes"]
    planted = causes["churned_by_planted_cause"]
    assert planted["voluntary"] + planted["involuntary"] == causes["churned"] == causes_demo["result"].n_churned
    assert causes["involuntary_share_realised"] == pytest.approx(SHARE, abs=0.05)
    assert causes["involuntary_share_asked"] == SHARE
    # about 3% of churns carry no reason, whatever their cause
    assert causes["unknown_share"] == pytest.approx(demo_module.UNRECORDED_REASON_SHARE, abs=0.015)
    involuntary_effects = {(e["factor"], e["term"]): e["hazard_ratio"] for e in causes["involuntary"]["effects"]}
    assert involuntary_effects.pop(("plan", "plan=Starter")) == 1.5
    assert set(involuntary_effects.values()) == {1.0}
    assert {factor for factor, _ in involuntary_effects} >= {"first_response_hours", "bad_interactions_90d"}
    assert "voluntary cause's hazard" in causes_demo["document"]["model"]


def test_demo_causes_reasons_in_the_file_match_the_document(causes_demo):
    accounts, causes = causes_demo["accounts"], causes_demo["document"]["causes"]
    churned = accounts["churn_date"].notna()
    assert (accounts.loc[~churned, "churn_reason"] == "").all()
    given = accounts.loc[churned, "churn_reason"].value_counts()
    assert given.get("", 0) == causes["churned_without_reason"]
    for reason, count in causes["churned_by_reason"].items():
        assert given.get(reason, 0) == count, reason
    assert set(given.index) <= {"", *demo_module.VOLUNTARY_REASONS, *demo_module.INVOLUNTARY_REASONS}


def test_demo_causes_reasons_map_to_their_cause_in_the_build(causes_demo):
    """The build reads the reasons with its built-in reasons file: its account_survival.churn_cause counts are
    those planted_effects.json records, the reasons not recorded counted as unknown."""
    reasons = churn_reasons.load()
    assert {reasons.cause_of(r) for r in demo_module.VOLUNTARY_REASONS} == {"voluntary"}
    assert {reasons.cause_of(r) for r in demo_module.INVOLUNTARY_REASONS} == {"involuntary"}
    survival = causes_demo["survival"]
    built = survival.loc[survival["churned"] == 1, "churn_cause"].value_counts().to_dict()
    assert built == causes_demo["document"]["causes"]["churned_by_recorded_cause"]
    assert survival.loc[survival["churned"] == 0, "churn_cause"].isna().all()


def _cause_specific(causes_demo, cause: str) -> pd.DataFrame:
    """The panel's covariates (as tests/test_demo.py fits them) with the event a churn of `cause`: a churn of any
    other cause, or of none recorded, is censored where it happens."""
    x = _covariates(causes_demo["panel"])
    cause_of = causes_demo["survival"].set_index("account_id")["churn_cause"]
    x["event"] = (x["event"] == 1) & (x["id"].map(cause_of) == cause).to_numpy()
    return x


def test_demo_causes_involuntary_churn_is_independent_of_service(causes_demo):
    """Independent check: lifelines' CoxTimeVaryingFitter on the build's panel, involuntary churn the event, every
    planted term of the voluntary hazard in the model. Reference: the planted involuntary hazard ratio of every
    service factor, 1.0. Tolerance: the true ratio lies inside the fitted 95% interval."""
    summary = _cox(_cause_specific(causes_demo, "involuntary"), ALL_IN_ONE + CASE_MIX)
    for covariate, truth in (("log2_first_response", 1.0), ("bad_2_plus", 1.0), ("high_priority_10pp", 1.0),
                             ("reopen_10pp", 1.0), ("agent_update_10pp", 1.0), ("credited_bad", 1.0)):
        lower, upper = summary.loc[covariate, ["lower", "upper"]]
        assert lower <= truth <= upper, (covariate, lower, upper)


def test_demo_causes_voluntary_churn_keeps_the_planted_effects(causes_demo):
    """The same model with voluntary churn the event (involuntary churns censored): the planted voluntary hazard
    ratios of planted_effects.json's effects lie inside the fitted 95% intervals. With every churn the event,
    first response reads weaker: a third of the churn is from a cause it does not move."""
    summary = _cox(_cause_specific(causes_demo, "voluntary"), ALL_IN_ONE + CASE_MIX)
    for covariate, truth in (("log2_first_response", 1.25), ("bad_2_plus", 2.2), ("high_priority_10pp", 1.2),
                             ("starter", 1.8)):
        lower, upper = summary.loc[covariate, ["lower", "upper"]]
        assert lower <= truth <= upper, (covariate, lower, upper)
    all_churn = _cox(_covariates(causes_demo["panel"]), ALL_IN_ONE + CASE_MIX)
    assert 1.0 < all_churn.loc["log2_first_response", "exp(coef)"] < summary.loc["log2_first_response", "exp(coef)"]


def test_demo_causes_true_whatif_splits_the_accounts_kept_between_the_causes(causes_demo):
    (whatif,) = causes_demo["document"]["true_whatif"]
    voluntary, involuntary = whatif["by_cause"]["voluntary"], whatif["by_cause"]["involuntary"]
    # each cause's incidence adds up to the churn from either cause (rounding to 0.001 per figure)
    assert voluntary["expected_churned_today"] + involuntary["expected_churned_today"] == pytest.approx(
        whatif["expected_churned_today"], abs=2e-3)
    assert voluntary["accounts_kept"] + involuntary["accounts_kept"] == pytest.approx(whatif["accounts_kept"],
                                                                                      abs=3e-3)
    assert voluntary["arr_kept"] + involuntary["arr_kept"] == pytest.approx(whatif["arr_kept"], abs=0.05)
    # the accounts kept from leaving stay at risk of a failed payment: involuntary churn rises a little
    assert voluntary["accounts_kept"] > 0 > involuntary["accounts_kept"] > -0.3 * voluntary["accounts_kept"]
    # without involuntary churn every account kept would stay a year: the net figure is above the voluntary one
    assert whatif["accounts_kept_without_involuntary_churn"] > voluntary["accounts_kept"] > whatif["accounts_kept"]
    assert whatif["active_accounts"] == causes_demo["accounts"]["churn_date"].isna().sum()


def test_cause_incidence_adds_up_to_the_churn_from_either_cause():
    tenure = np.array([0, 200, 600])
    log_hr = np.array([0.0, np.log(2.0), -1.0])
    per_day = np.array([0.0005, 0.001, 0.0002])
    horizon = 365
    voluntary, involuntary = demo_module.cause_incidence(tenure, log_hr, per_day, horizon)
    either = demo_module.expected_churn_probability(tenure, log_hr, horizon, per_day * horizon)
    np.testing.assert_allclose(voluntary + involuntary, either, rtol=1e-12)
    alone = demo_module.expected_churn_probability(tenure, log_hr, horizon)
    assert (voluntary < alone).all()  # involuntary churn takes some accounts before they would leave
    # with next to no voluntary hazard, the involuntary incidence is that of a constant hazard
    _, only = demo_module.cause_incidence(tenure, np.full(3, -50.0), per_day, horizon)
    np.testing.assert_allclose(only, -np.expm1(-per_day * horizon), rtol=1e-12)
