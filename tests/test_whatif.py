"""What-if: accounts and ARR kept by a change in service, on the default demo."""

from __future__ import annotations

import argparse
import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipelines.models.drivers import ServiceDrivers
from pipelines.models.risk import current_rows, max_tenure_days
from pipelines.cli import main as retention
from pipelines.cli.whatif import add_parser as add_whatif_parser
from pipelines.models.whatif import WhatIf, WhatIfInputError, case_mix_ranges, parse_change


def whatif(con, drivers, changes, **kwargs) -> WhatIf:
    kwargs.setdefault("n_draws", 300)
    return WhatIf(changes, **kwargs).fit(con, drivers=drivers)


def test_whatif_zero_change_keeps_exactly_nothing(demo_con, demo_drivers):
    result = whatif(demo_con, demo_drivers, [("first_response_hours", "+0%"), ("sla_breach_rate", "0pp")]).result_
    assert result["accounts_kept"] == {"estimate": 0.0, "ci_lower": 0.0, "ci_upper": 0.0}
    assert result["arr_kept"] == {"estimate": 0.0, "ci_lower": 0.0, "ci_upper": 0.0}
    assert result["baseline"] == result["scenario"]


def test_whatif_slower_first_response_loses_accounts(demo_con, demo_drivers):
    """The demo plants slower first responses as harmful (the model's hazard ratio per doubling > 1)."""
    model = whatif(demo_con, demo_drivers, [("first_response_hours", "+100%")])
    kept = model.result_["accounts_kept"]
    assert kept["estimate"] < 0 and model.result_["arr_kept"]["estimate"] < 0
    assert kept["ci_lower"] <= kept["estimate"] <= kept["ci_upper"] < 0


def test_whatif_faster_first_response_keeps_accounts_and_arr(demo_con, demo_drivers):
    model = whatif(demo_con, demo_drivers, [("first_response_hours", "-50%")])
    r = model.result_
    for quantity in ("accounts_kept", "arr_kept"):
        assert 0 < r[quantity]["ci_lower"] <= r[quantity]["estimate"] <= r[quantity]["ci_upper"]
    baseline, scenario = r["baseline"], r["scenario"]
    assert r["accounts_kept"]["estimate"] == pytest.approx(
        baseline["expected_churned_accounts"] - scenario["expected_churned_accounts"], rel=1e-9)
    assert r["arr_kept"]["estimate"] == pytest.approx(baseline["expected_lost_arr"] - scenario["expected_lost_arr"],
                                                      rel=1e-9)
    # every account's probability falls or stays (no account's first response got worse)
    accounts = model.accounts_
    assert np.all(accounts.churn_probability_scenario <= accounts.churn_probability_baseline)
    assert baseline["expected_lost_arr"] == pytest.approx((accounts.churn_probability_baseline * accounts.arr).sum())


def test_whatif_changes_combine(demo_con, demo_drivers):
    """Two protective changes keep more than either alone, and their order does not matter."""
    first = whatif(demo_con, demo_drivers, [("first_response_hours", "-50%")]).result_["accounts_kept"]["estimate"]
    second = whatif(demo_con, demo_drivers, [("agent_update_rate", "+10pp")]).result_["accounts_kept"]["estimate"]
    both = whatif(demo_con, demo_drivers, [("first_response_hours", "-50%"), ("agent_update_rate", "+10pp")])
    swapped = whatif(demo_con, demo_drivers, [("agent_update_rate", "+10pp"), ("first_response_hours", "-50%")])
    assert both.result_["accounts_kept"]["estimate"] > max(first, second) > 0
    assert both.result_ == swapped.result_


def test_whatif_scenario_probability_by_hand_for_one_account(demo_con, demo_drivers):
    """For one account: -50% first response is one doubling step down in the model's term, so
    lp' = lp - β_first_response, and P' = 1 - exp(-(H0(τ+365) - H0(τ)) · exp(lp')) with H0 Breslow's at the edges
    of the tenure bands and linear in between."""
    model = demo_drivers.model_
    result = whatif(demo_con, demo_drivers, [("first_response_hours", "-50%")], n_draws=10)
    latest = demo_con.execute(
        "select * from account_months qualify row_number() over (partition by account_id order by month_start desc) = 1"
    ).df().set_index("account_id")
    T = max_tenure_days(demo_con)
    accounts = result.accounts_.set_index("account_id")
    eligible = accounts[(accounts.tenure_days + 365 <= T)
                        & (latest.first_response_hours_median.reindex(accounts.index) > 2 / 60)]
    account_id = eligible.index[0]
    row = latest.loc[account_id]
    x = {
        "first_response_hours": np.log2(row.first_response_hours_median),
        "plan=Growth": float(row.plan == "Growth"),
        "plan=Business": float(row.plan == "Business"),
        "plan=Enterprise": float(row.plan == "Enterprise"),
    }
    from pipelines.models.risk import BaselineHazard, design_matrix

    design = design_matrix(latest.loc[[account_id]].reset_index(), demo_drivers).iloc[0]
    for term, value in x.items():
        assert design[term] == value
    beta = model.params_
    lp = float(((design - model.means_) * beta).sum())
    lp_changed = lp - beta["first_response_hours"]
    steps = model.baseline_cumulative_hazard_.iloc[:, 0]
    breslow = lambda t: steps[steps.index <= t].iloc[-1] if t >= steps.index[0] else 0.0  # noqa: E731
    # Breslow's H0 at the edges of the tenure bands, straight lines in between
    edges = BaselineHazard(model, T).band_edges_
    H = lambda t: np.interp(t, edges, [breslow(e) for e in edges])  # noqa: E731
    tau = row.stop_day
    increment = H(tau + 365) - H(tau)
    assert accounts.loc[account_id, "churn_probability_baseline"] == pytest.approx(
        1 - np.exp(-increment * np.exp(lp)), rel=1e-10)
    assert accounts.loc[account_id, "churn_probability_scenario"] == pytest.approx(
        1 - np.exp(-increment * np.exp(lp_changed)), rel=1e-10)


def test_whatif_interval_is_reproducible_with_its_seed(demo_con, demo_drivers):
    a = whatif(demo_con, demo_drivers, [("reopen_rate", "-5pp")], seed=3).result_
    b = whatif(demo_con, demo_drivers, [("reopen_rate", "-5pp")], seed=3).result_
    c = whatif(demo_con, demo_drivers, [("reopen_rate", "-5pp")], seed=4).result_
    assert a == b
    assert a["accounts_kept"]["estimate"] == c["accounts_kept"]["estimate"]
    assert a["accounts_kept"]["ci_lower"] != c["accounts_kept"]["ci_lower"]


def test_whatif_changes_apply_on_the_raw_scale_and_clip():
    values = pd.Series([0.02, 0.5, None])
    np.testing.assert_allclose(parse_change("sla_breach_rate", "-5pp").apply(values), [0.0, 0.45, np.nan])
    np.testing.assert_allclose(parse_change("csat", "+0.5").apply(pd.Series([4.8, 3.0])), [5.0, 3.5])
    np.testing.assert_allclose(parse_change("first_response_hours", "-50%").apply(pd.Series([8.0])), [4.0])
    np.testing.assert_allclose(parse_change("resolution_hours", "+25%").apply(pd.Series([8.0])), [10.0])


@pytest.mark.parametrize(
    "factor, change, message",
    [
        ("first_response_hours", "half", "cannot read the change 'half'"),
        ("first_response_hours", "-5pp", "is a time"),
        ("first_response_hours", "-100%", "must stay above zero"),
        ("sla_breach_rate", "-5%", "percentage points"),
        ("csat", "+5%", "1-5 score"),
        ("bad_interactions_90d", "-1", "cannot be changed in a what-if"),
        ("speed", "-50%", "unknown factor 'speed'"),
    ],
)
def test_whatif_rejects_a_change_it_cannot_read(factor, change, message):
    with pytest.raises(WhatIfInputError, match=message):
        parse_change(factor, change)
    assert issubclass(WhatIfInputError, ValueError)


def test_whatif_rejects_a_factor_changed_twice():
    with pytest.raises(WhatIfInputError, match="more than once"):
        WhatIf([("csat", "+0.5"), ("csat", "+1")])


def _run(argv, capsys):
    code = retention(argv)
    return code, capsys.readouterr().out


def test_whatif_command_json_has_exactly_the_documented_keys(demo_database, capsys):
    code, out = _run(["whatif", "--db", str(demo_database[0]), "--factor", "first_response_hours", "--change", "-50%",
                      "--factor", "sla_breach_rate", "--change", "-5pp", "--draws", "200", "--format", "json"], capsys)
    payload = json.loads(out)
    assert code == 0
    assert list(payload) == ["accounts_kept", "arr_kept", "revenue_kept", "baseline", "scenario", "horizon_days",
                             "accounts",
                             "changes", "covariance", "tail_sensitivity",
                             "accounts_past_observed_tenure", "sla_recomputed", "overlap", "notes"]
    # the interval carries the baseline hazard's own sampling error, and the notes say so
    assert any("and in its baseline hazard" in note for note in payload["notes"])
    assert [t["tail_scale"] for t in payload["tail_sensitivity"]] == [0.5, 2.0]
    revenue = payload["revenue_kept"]
    assert [m["month"] for m in revenue["by_month"]] == list(range(1, 13))
    assert revenue["by_month"][-1]["revenue_kept"] == pytest.approx(revenue["estimate"])
    # what the kept accounts pay within the year is less than a year of their revenue (ARR kept)
    assert 0 < revenue["estimate"] < payload["arr_kept"]["estimate"]
    for key in ("accounts_kept", "arr_kept"):
        assert list(payload[key]) == ["estimate", "ci_lower", "ci_upper"]
    for key in ("baseline", "scenario"):
        assert list(payload[key]) == ["expected_churned_accounts", "expected_lost_arr"]
    assert payload["horizon_days"] == 365
    assert [c["change"] for c in payload["changes"]] == ["-50%", "-5pp"]
    assert any("held at today's values" in note for note in payload["notes"])


def test_whatif_command_reports_unpaired_changes(demo_database):
    parser = argparse.ArgumentParser()
    add_whatif_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["whatif", "--db", str(demo_database[0]), "--factor", "csat", "--factor", "reopen_rate",
                              "--change", "+0.5"])
    with pytest.raises(WhatIfInputError, match="2 --factor but 1 --change"):
        args.func(args)


def test_whatif_interval_from_a_sample_of_accounts_is_close_to_the_full_one(demo_con, demo_drivers):
    """At a million accounts the draws run on a sample scaled up; on the demo a 1,500-account sample gives
    the same estimate and an interval within 10% of the full interval's width at each end."""
    full = whatif(demo_con, demo_drivers, [("first_response_hours", "-50%")], n_draws=400)
    sampled = whatif(demo_con, demo_drivers, [("first_response_hours", "-50%")], n_draws=400, max_draw_accounts=1500)
    assert sampled.draw_accounts_ == 1500 and full.draw_accounts_ == full.n_accounts_
    for quantity in ("accounts_kept", "arr_kept"):
        a, b = full.result_[quantity], sampled.result_[quantity]
        assert b["estimate"] == a["estimate"]
        width = a["ci_upper"] - a["ci_lower"]
        assert b["ci_lower"] == pytest.approx(a["ci_lower"], abs=0.1 * width)
        assert b["ci_upper"] == pytest.approx(a["ci_upper"], abs=0.1 * width)
    assert any("random sample of 1,500 accounts" in note for note in sampled.notes_)


def test_whatif_from_the_stored_model_equals_a_fresh_fit(demo_database):
    """The app predicts from the model the build stored; it must give the numbers a refit gives."""
    with duckdb.connect(str(demo_database[0]), read_only=True) as con:
        stored = ServiceDrivers.from_database(con)
        fresh = ServiceDrivers().fit(con)
        changes = [("first_response_hours", "-50%"), ("reopen_rate", "-5pp")]
        a = WhatIf(changes, n_draws=200).fit(con, drivers=stored).to_json_dict()
        b = WhatIf(changes, n_draws=200).fit(con, drivers=fresh).to_json_dict()
    for key in ("accounts_kept", "arr_kept"):
        for part in ("estimate", "ci_lower", "ci_upper"):
            assert a[key][part] == pytest.approx(b[key][part], rel=1e-9), (key, part)
    assert stored.model_info_["n_events"] == fresh.model_info_["n_events"]


def test_whatif_draws_equal_every_account_evaluated_in_one_step(demo_con, demo_drivers, monkeypatch):
    """The draws skip accounts the change leaves as they are, share H0 per distinct tenure and run in small
    steps; each draw must still be the plain sum over every account of P(base) - P(changed) (risk's formula,
    with H0 moved by the draw's coefficients and its own sampling error), written out here in one step."""
    from pipelines.models import whatif as whatif_module
    from pipelines.models.risk import BaselineHazard, churn_probability, design_matrix

    monkeypatch.setattr(whatif_module, "CELLS_PER_BATCH", 5_000)  # several steps even on the demo
    changes = [("first_response_hours", "-50%"), ("csat", "+0.5")]
    fitted = whatif(demo_con, demo_drivers, changes, n_draws=50, seed=5)

    rows = current_rows(demo_con)
    changed = rows.copy()
    for change in fitted.changes:
        changed[change.column] = change.apply(rows[change.column].astype(float))
    model = demo_drivers.model_
    X, X_changed = design_matrix(rows, demo_drivers).to_numpy(), design_matrix(changed, demo_drivers).to_numpy()
    assert np.any(np.all(X == X_changed, axis=1)), "the demo should have accounts the change leaves alone"
    beta = model.params_.to_numpy()
    rng = np.random.default_rng(5)
    delta = rng.multivariate_normal(np.zeros(beta.size), model.variance_matrix_.to_numpy(), size=50, method="svd")
    hazard = BaselineHazard(model, max_tenure_days(demo_con))
    noise = hazard.increment_noise(rng, 50)  # each draw's baseline sampling error, after the coefficients'
    increment = hazard.increment(rows.tenure_days.to_numpy(float), 365, delta, noise)
    betas = (beta + delta).T
    difference = (churn_probability(increment, (X - model.means_) @ betas)
                  - churn_probability(increment, (X_changed - model.means_) @ betas))
    arr = 12.0 * rows.mrr.astype(float).fillna(0.0).to_numpy()
    np.testing.assert_allclose(fitted.draws_.accounts_kept, difference.sum(axis=0), rtol=1e-10)
    np.testing.assert_allclose(fitted.draws_.arr_kept, arr @ difference, rtol=1e-10)


def test_whatif_given_current_rows_equals_reading_them(demo_con, demo_drivers):
    """The app passes the current rows it read once per build; the answer is the one fit() reads itself,
    and the rows it was given are left as they were."""
    rows = current_rows(demo_con)
    before = rows.copy()
    ids = rows.account_id.iloc[::3].tolist()
    changes = [("first_response_hours", "-50%")]
    given = WhatIf(changes, n_draws=100).fit(demo_con, drivers=demo_drivers, account_ids=ids, rows=rows)
    read = WhatIf(changes, n_draws=100).fit(demo_con, drivers=demo_drivers, account_ids=ids)
    assert given.to_json_dict() == read.to_json_dict()
    pd.testing.assert_frame_equal(rows, before)


def test_whatif_overlap_flags_a_change_beyond_what_similar_case_mix_shows(small_demo_database):
    """-10% stays within every case-mix cell's 1st-99th percentile range for nearly every account; -95% leaves it
    for most, and the notes say the estimate extrapolates there."""
    with duckdb.connect() as con:
        con.execute("attach $path as f (read_only)", {"path": str(small_demo_database[0])})
        con.execute("use f")
        mild = WhatIf([("first_response_hours", "-10%")], n_draws=10).fit(con)
        extreme = WhatIf([("first_response_hours", "-95%")], n_draws=10).fit(con)
    (mild_overlap,), (extreme_overlap,) = mild.overlap_, extreme.overlap_
    assert mild_overlap["share_outside"] < 0.05 and not mild_overlap["warn"]
    assert extreme_overlap["share_outside"] > 0.5 and extreme_overlap["warn"]
    assert any(note.startswith("overlap:") for note in extreme.notes_)
    assert 0 < mild_overlap["accounts"] <= len(mild.accounts_)  # the accounts with a first response measured


def test_whatif_sla_recheck_covers_the_scored_accounts_only(demo_con, demo_drivers):
    """A what-if of a selection rechecks the SLA tickets of the selected accounts, not of every account: the
    figures equal the same recheck written here over interaction_metrics and the panel for those accounts."""
    starter = [r[0] for r in demo_con.execute(
        "select account_id from account_survival where plan = 'Starter'").fetchall()]
    expected_sql = """
        with latest as (
            select account_id, month_start from account_months
            qualify row_number() over (partition by account_id order by month_start desc) = 1 and churned = 0
        )
        select count(*), sum(case when i.first_response_hours > i.sla_target_hours then 1 else 0 end),
               sum(case when i.first_response_hours * 0.5 > i.sla_target_hours then 1 else 0 end)
        from interaction_metrics as i join latest as l using (account_id)
        where i.created_at >= l.month_start - interval 90 day and i.created_at < l.month_start
          and i.first_response_at < l.month_start and i.sla_target_hours is not null
          and ($plan is null or i.account_id in (select account_id from account_survival where plan = $plan))
    """
    for plan, account_ids in ((None, None), ("Starter", starter)):
        model = WhatIf([("first_response_hours", "-50%")], n_draws=50).fit(demo_con, drivers=demo_drivers,
                                                                            account_ids=account_ids)
        tickets, breached, breached_with_change = demo_con.execute(expected_sql, {"plan": plan}).fetchone()
        sla = model.sla_recomputed_
        assert sla["n_tickets"] == tickets > 0
        assert sla["sla_breach_rate_today"] == pytest.approx(breached / tickets, rel=1e-12)
        assert sla["sla_breach_rate_with_change"] == pytest.approx(breached_with_change / tickets, rel=1e-12)
    assert model.sla_recomputed_["n_tickets"] < whatif(demo_con, demo_drivers, [("first_response_hours", "-50%")]
                                                       ).sla_recomputed_["n_tickets"]


def test_whatif_given_case_mix_ranges_equals_reading_them(demo_con, demo_drivers):
    """The app reads each measure's case-mix ranges once per build and hands them over: the same overlap and the
    same estimate as a what-if that reads them itself."""
    change = [("first_response_hours", "-95%")]
    ranges = {"first_response_hours_median": case_mix_ranges(demo_con, "first_response_hours_median")}
    read = WhatIf(change, n_draws=20).fit(demo_con, drivers=demo_drivers)
    given = WhatIf(change, n_draws=20).fit(demo_con, drivers=demo_drivers, overlap_ranges=ranges)
    assert given.overlap_ == read.overlap_ and read.overlap_[0]["outside"] > 0
    assert given.result_ == read.result_
