"""Revenue drivers: next month's NRR by quartile of a service measure, worked by hand, against pandas and the
delta method, and on the demo's planted revenue rules."""

from __future__ import annotations

import argparse
import csv
import io
import json
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipelines.cli.revenue import add_parser as add_revenue_parser
from pipelines.models.revenue import (
    ACCOUNT_QUARTILE_COLUMNS,
    FLAT_MRR_REASON,
    RevenueDrivers,
    RevenueInputError,
    poisson1_weights,
)

AS_OF = date(2024, 4, 30)
ACCOUNTS = [
    # account_id, signup_date, churn_date, mrr, plan
    ["A", "2024-01-01", "", 121, "Growth"],
    ["B", "2024-01-01", "", 180, "Growth"],
    ["C", "2024-01-01", "", 90, "Growth"],
    ["D", "2024-01-01", "2024-03-15", 270, "Growth"],
]
# One ticket each on 5 January, first answered after 1, 2, 4 and 8 hours: from February on (known before the
# month started, within 90 days) each account's first_response_hours_median is that value.
INTERACTIONS = [
    {"interaction_id": f"T{i}", "account_id": a, "created_at": "2024-01-05T09:00:00",
     "first_response_at": f"2024-01-05T{9 + h:02d}:00:00", "resolved_at": "2024-01-05T20:00:00",
     "severity": "normal"}
    for i, (a, h) in enumerate([("A", 1), ("B", 2), ("C", 4), ("D", 8)])
]
MRR_HISTORY = [
    ["A", "2024-01", 100], ["A", "2024-02", 100], ["A", "2024-03", 110], ["A", "2024-04", 121],
    ["B", "2024-01", 200], ["B", "2024-02", 200], ["B", "2024-03", 200], ["B", "2024-04", 180],
    ["C", "2024-01", 100], ["C", "2024-02", 100], ["C", "2024-03", 90], ["C", "2024-04", 90],
    ["D", "2024-01", 300], ["D", "2024-02", 300], ["D", "2024-03", 270],
]


def fit_first_response(con, **kwargs) -> pd.DataFrame:
    return RevenueDrivers(factors=["first_response_hours"], **kwargs).fit(con).effects_.set_index("quartile")


def run_cli(db_path, *options) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="retention")
    add_revenue_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["revenue", "--db", str(db_path), *options])
    out = io.StringIO()
    from contextlib import redirect_stdout

    with redirect_stdout(out):
        code = args.func(args)
    return code, out.getvalue()


def test_revenue_effects_by_hand(build_rows):
    """Four accounts, one per quartile (first response 1, 2, 4, 8 hours from February on).

    Rows with a measure and a known next month: February and March (January has no measure yet, April is the
    as-of month with no next month; D churned in March, so its March row's next month is 0):
      Q1 A: Feb 100 -> Mar 110, Mar 110 -> Apr 121: NRR = 231 / 210 = 1.1;        expansion 21 / 210 = 0.1
      Q2 B: Feb 200 -> 200,     Mar 200 -> 180:     NRR = 380 / 400 = 0.95;       contraction 20 / 400
      Q3 C: Feb 100 -> 90,      Mar 90 -> 90:       NRR = 180 / 190 = 0.947368;   contraction 10 / 190
      Q4 D: Feb 300 -> 270,     Mar 270 -> 0:       NRR = 270 / 570 = 0.473684;   contraction 30 / 570, churned 270 / 570
    Annualised: 1.1 ** 12 = 3.138428, 0.95 ** 12 = 0.540360, (18/19) ** 12 = 0.522472, (9/19) ** 12 = 0.000128.
    Q1 vs Q4: 3.138428 - 0.000128 = 3.138300.
    """
    built = build_rows(ACCOUNTS, INTERACTIONS, as_of=AS_OF, mrr_history=MRR_HISTORY)
    effects = fit_first_response(built.con)
    assert effects.index.tolist() == [1, 2, 3, 4]
    assert effects.measure_low.tolist() == [1.0, 2.0, 4.0, 8.0]
    assert effects.n_account_months.tolist() == [2, 2, 2, 2]
    assert effects.n_accounts.tolist() == [1, 1, 1, 1]
    assert effects.n_churned.tolist() == [0, 0, 0, 1]
    np.testing.assert_allclose(effects.starting_mrr, [210, 400, 190, 570])
    np.testing.assert_allclose(effects.next_month_mrr, [231, 380, 180, 270])
    np.testing.assert_allclose(effects.nrr_monthly, [1.1, 0.95, 18 / 19, 9 / 19], rtol=1e-12)
    np.testing.assert_allclose(effects.nrr_annualised, [1.1**12, 0.95**12, (18 / 19) ** 12, (9 / 19) ** 12],
                               rtol=1e-12)
    np.testing.assert_allclose(effects.expansion_rate, [0.1, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(effects.contraction_rate, [0, 20 / 400, 10 / 190, 30 / 570], atol=1e-12)
    np.testing.assert_allclose(effects.churned_mrr_rate, [0, 0, 0, 270 / 570], atol=1e-12)
    # the decomposition holds: NRR = 1 + expansion - contraction - churned
    np.testing.assert_allclose(effects.nrr_monthly,
                               1 + effects.expansion_rate - effects.contraction_rate - effects.churned_mrr_rate)
    assert effects.vs_quartile.tolist() == [4, 4, 4, 4]
    assert effects.loc[1, "nrr_annualised_difference"] == pytest.approx(1.1**12 - (9 / 19) ** 12, rel=1e-12)
    assert np.isnan(effects.loc[4, "nrr_annualised_difference"])
    # one account per quartile: every resample that draws it gives the same ratio, so the CI is the point
    np.testing.assert_allclose(effects.ci_lower, effects.nrr_annualised, rtol=1e-12)
    np.testing.assert_allclose(effects.ci_upper, effects.nrr_annualised, rtol=1e-12)


def test_revenue_effects_higher_is_better_puts_highest_csat_first(build_rows):
    """CSAT 5, 4, 3, 2 for A, B, C, D: quartile 1 is the highest rating, so the NRRs of the by-hand case keep
    their order (A 1.1 first, D 9/19 last)."""
    interactions = [dict(row, csat=str(5 - i)) for i, row in enumerate(INTERACTIONS)]
    built = build_rows(ACCOUNTS, interactions, as_of=AS_OF, mrr_history=MRR_HISTORY)
    effects = RevenueDrivers(factors=["csat"]).fit(built.con).effects_.set_index("quartile")
    assert effects.measure_low.tolist() == [5.0, 4.0, 3.0, 2.0]
    assert effects.direction.unique().tolist() == ["higher is better"]
    np.testing.assert_allclose(effects.nrr_monthly, [1.1, 0.95, 18 / 19, 9 / 19], rtol=1e-12)


def test_revenue_effects_last_month_and_censored_churn_excluded(build_rows):
    """D's churn (2024-05-20) is after as-of, so D is active and its April row has no next month.

    Q4 D: Feb 300 -> 270, Mar 270 -> 250 (April, recorded): NRR = 520 / 570 = 0.912281, no churn;
    if the as-of month counted (as 0 or as churn) the quartile would have 3 rows and a lower NRR."""
    accounts = [row if row[0] != "D" else ["D", "2024-01-01", "2024-05-20", 250, "Growth"] for row in ACCOUNTS]
    built = build_rows(accounts, INTERACTIONS, as_of=AS_OF, mrr_history=MRR_HISTORY + [["D", "2024-04", 250]])
    effects = fit_first_response(built.con)
    assert effects.n_account_months.tolist() == [2, 2, 2, 2]
    assert effects.loc[4, "n_churned"] == 0
    assert effects.loc[4, "nrr_monthly"] == pytest.approx(520 / 570, rel=1e-12)
    assert effects.loc[4, "churned_mrr_rate"] == 0


def test_revenue_effects_flat_mrr_says_why(build_rows):
    built = build_rows(ACCOUNTS, INTERACTIONS, as_of=AS_OF)
    fitted = RevenueDrivers().fit(built.con)
    assert fitted.reason_ == FLAT_MRR_REASON
    assert fitted.effects_.empty and list(fitted.effects_.columns)[:5] == [
        "factor", "pillar", "direction", "measure_column", "quartile"]

    code, out = run_cli(built.result.db_path)
    assert code == 0 and out.strip() == f"No revenue drivers: {FLAT_MRR_REASON}."
    code, out = run_cli(built.result.db_path, "--format", "json")
    assert code == 0 and json.loads(out)["effects"] == [] and json.loads(out)["model"]["reason"] == FLAT_MRR_REASON


def test_revenue_effects_model_notes_say_what_it_is(build_rows):
    built = build_rows(ACCOUNTS, INTERACTIONS, as_of=AS_OF, mrr_history=MRR_HISTORY)
    fitted = RevenueDrivers().fit(built.con)
    first_response = fitted.effects_[fitted.effects_.factor == "first_response_hours"].sort_values("quartile")
    np.testing.assert_allclose(first_response.nrr_monthly, [1.1, 0.95, 18 / 19, 9 / 19], rtol=1e-12)
    info = fitted.to_json_dict()["model"]
    assert info["reason"] is None and info["n_accounts"] == 4
    assert any("association, not proof" in note for note in info["notes"])
    assert any("no adjustment" in note for note in info["notes"])



def synthetic_account_quartiles(n_accounts: int, seed: int) -> pd.DataFrame:
    """Each account has months in quartile 1 (growing about 1% a month) and in quartile 4 (shrinking 1%),
    with account-level noise, so whole accounts carry the variation the bootstrap must resample."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"acct{i:05d}" for i in range(n_accounts)])
    rows = []
    for quartile, drift in ((1, 0.01), (4, -0.01)):
        start = rng.lognormal(5.0, 0.8, n_accounts)
        change = drift + rng.normal(0.0, 0.05, n_accounts)
        rows.append(pd.DataFrame({
            "factor": "first_response_hours", "account_id": ids, "quartile": quartile,
            "n_account_months": 3, "n_churned": 0, "measure_low": float(quartile), "measure_high": float(quartile),
            "starting_mrr": start, "next_month_mrr": start * (1 + change),
            "expansion_mrr": 0.0, "contraction_mrr": 0.0, "churned_mrr": 0.0,
        }))
    return pd.concat(rows, ignore_index=True)[list(ACCOUNT_QUARTILE_COLUMNS)]


def test_revenue_bootstrap_contains_estimate_and_shrinks_with_more_accounts():
    widths = {}
    for n in (100, 1600):
        effects = RevenueDrivers(n_resamples=400).fit_frame(synthetic_account_quartiles(n, seed=3)).effects_
        effects = effects.set_index("quartile")
        assert (effects.ci_lower <= effects.nrr_annualised).all() and (effects.nrr_annualised <= effects.ci_upper).all()
        q1 = effects.loc[1]
        assert q1.difference_ci_lower <= q1.nrr_annualised_difference <= q1.difference_ci_upper
        widths[n] = q1.ci_upper - q1.ci_lower
    # 16 times the accounts: the interval narrows about 4 times
    assert widths[1600] < widths[100] / 3


def test_poisson1_weights_follow_poisson_one():
    """The inverse-CDF sampler's counts against the Poisson(1) probabilities, over 2 million draws."""
    import math

    weights = poisson1_weights(np.random.default_rng(11), (200, 10_000))
    assert weights.mean() == pytest.approx(1.0, abs=0.002) and weights.var() == pytest.approx(1.0, abs=0.004)
    counts = np.bincount(weights.astype(int).ravel(), minlength=6)
    for k in range(6):
        expected = weights.size * math.exp(-1) / math.factorial(k)
        assert abs(counts[k] - expected) < 5 * math.sqrt(expected), k  # 5 binomial standard deviations


def test_revenue_bootstrap_matches_delta_method():
    """Reference: the ratio estimator's cluster (account-level) variance, var(R) = sum_a (y_a - R x_a)^2 / X^2,
    with se(R ** 12) = 12 R ** 11 se(R). The 95% percentile interval of 2,000 resamples should span
    2 x 1.96 se within 10% (bootstrap noise and the slight skew of R ** 12)."""
    frame = synthetic_account_quartiles(2000, seed=5)
    effects = RevenueDrivers(n_resamples=2000, seed=1).fit_frame(frame).effects_.set_index("quartile")
    q1 = frame[frame.quartile == 1]
    x, y = q1.starting_mrr.to_numpy(), q1.next_month_mrr.to_numpy()
    ratio = y.sum() / x.sum()
    se = 12 * ratio**11 * np.sqrt(((y - ratio * x) ** 2).sum()) / x.sum()
    width = effects.loc[1, "ci_upper"] - effects.loc[1, "ci_lower"]
    assert width == pytest.approx(2 * 1.959964 * se, rel=0.10)


def test_revenue_effects_rejects_unknown_factor_and_bad_frame():
    with pytest.raises(RevenueInputError, match="unknown factor \\['tickets_90d'\\]"):
        RevenueDrivers(factors=["tickets_90d"])._factors()
    with pytest.raises(RevenueInputError, match="lacks column"):
        RevenueDrivers().fit_frame(synthetic_account_quartiles(10, 1).drop(columns="next_month_mrr"))


def test_revenue_effects_on_demo_first_response(demo_database):
    """Planted: healthy accounts expand, accounts contract before churn, slow first response raises churn.
    Checked against an independent pandas computation of the same quartile NRRs (1e-9)."""
    db_path, _ = demo_database
    with duckdb.connect(str(db_path), read_only=True) as con:
        model = RevenueDrivers().fit(con)
        panel = con.execute("select account_id, month_start, churned, mrr, first_response_hours_median as x "
                            "from account_months order by account_id, month_start").df()
    effects = model.effects_[model.effects_.factor == "first_response_hours"].set_index("quartile")
    assert effects.index.tolist() == [1, 2, 3, 4]
    best, worst = effects.loc[1], effects.loc[4]
    assert best.nrr_annualised > worst.nrr_annualised
    assert best.difference_ci_lower > 0
    assert best.expansion_rate > worst.expansion_rate and best.contraction_rate < worst.contraction_rate
    assert (effects.ci_lower <= effects.nrr_annualised).all() and (effects.nrr_annualised <= effects.ci_upper).all()

    # independent: pandas shift for next month, numpy inverted-CDF quantiles for the cut points
    panel["next_mrr"] = panel.groupby("account_id").mrr.shift(-1)
    panel["has_next"] = panel.groupby("account_id").month_start.shift(-1).notna()
    panel["next_mrr"] = np.where(panel.churned == 1, 0.0, panel.next_mrr)
    rows = panel[panel.x.notna() & ((panel.churned == 1) | panel.has_next)]
    cuts = np.quantile(rows.x, [0.25, 0.5, 0.75], method="inverted_cdf")
    quartile = 1 + (rows.x.to_numpy()[:, None] > cuts).sum(axis=1)
    sums = rows.assign(q=quartile).groupby("q")[["mrr", "next_mrr"]].sum()
    np.testing.assert_allclose(effects.nrr_monthly, sums.next_mrr / sums.mrr, rtol=1e-9)
    assert effects.n_account_months.tolist() == rows.assign(q=quartile).groupby("q").size().tolist()


def test_revenue_cli_formats(build_rows):
    built = build_rows(ACCOUNTS, INTERACTIONS, as_of=AS_OF, mrr_history=MRR_HISTORY)
    code, out = run_cli(built.result.db_path, "--format", "csv")
    assert code == 0
    rows = [r for r in csv.DictReader(io.StringIO(out)) if r["factor"] == "first_response_hours"]
    assert [float(r["nrr_monthly"]) for r in rows] == pytest.approx([1.1, 0.95, 18 / 19, 9 / 19])

    code, out = run_cli(built.result.db_path, "--format", "json")
    document = json.loads(out)
    first = [e for e in document["effects"] if e["factor"] == "first_response_hours" and e["quartile"] == 1][0]
    assert first["nrr_annualised"] == pytest.approx(1.1**12)
    assert document["model"]["model"] == "revenue_drivers"

    code, out = run_cli(built.result.db_path)
    assert code == 0
    assert "first_response_hours (first_response_hours_median; lower is better; pillar: quick)" in out
    assert "110.0%" in out  # quartile 1's monthly NRR
    assert "association" in out.lower() or "associations" in out
