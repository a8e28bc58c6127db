"""The what-if and the at-risk list on worlds built unlike the demo (tests/worlds.py), 20 seeds per structure.

Per structure: the what-if's 95% interval covers the world's own accounts kept by halving first response on at
least 18 of 20 seeds; its expected churn and its accounts kept are within 5% of the truth on average over the
seeds; and each decile of the at-risk list's 90-day risk is within 3 percentage points of the true risk of its
accounts, on average over the seeds. The truth draws each account's months forward from its state at as-of, so
nothing is held at today's value that the world would change; the estimators hold today's measures, and these
tests measure what that costs.

Also: a world where the naive answer is wrong (case mix confounds first response: a model without it understates
the accounts kept), and one where no model can be right (an unmeasured frailty that also slows first response),
which only the E-value speaks to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipelines.models.drivers import ServiceDrivers
from pipelines.models.causal_structure import BUILT_IN
from pipelines.models.factor_effects import e_value
from pipelines.models.risk import AccountRisk, current_rows
from pipelines.models.whatif import WhatIf
from shared_runs import once_per_run, seed_pool
from worlds import World, generate, panel_database, true_churn

pytestmark = pytest.mark.slow

STRUCTURES = {
    "flat": World(),
    "a factor with no effect": World(effect=1.0),
    "hazard rising over tenure": World(baseline="rising"),
    "hazard falling over tenure": World(baseline="falling"),
    "unmeasured frailty in churn and volume": World(frailty_sd=0.8),
    "case mix confounding with frailty": World(confounded=True, frailty_sd=0.8),
    "horizon past the observed tenure": World(months=12),
}
SEEDS = range(20)
RISK_HORIZON_DAYS = 90
AS_OF = date(2026, 1, 1)  # the worlds' panels carry no as-of of their own; the risk list only reports it


@dataclass(frozen=True)
class Seed:
    kept_true: float
    kept: dict
    churn_true: float
    churn_estimate: float
    deciles: pd.DataFrame  # per decile of predicted 90-day risk: mean predicted and mean true
    naive_kept: dict | None


def run_seed(world: World, seed: int, naive: bool = False) -> Seed:
    panel, state = generate(world, seed)
    today, halved = true_churn(world, state, seed + 100)
    risk_truth, _ = true_churn(replace(world, horizon_days=RISK_HORIZON_DAYS), state, seed + 200)
    con = panel_database(panel)
    change = [("first_response_hours", "-50%")]
    model = ServiceDrivers(factors=BUILT_IN.whatif_terms(["first_response_hours"]), max_accounts=None, robust=True,
                           concordance=False).fit(con)
    result = WhatIf(change, horizon_days=world.horizon_days, n_draws=300, seed=seed).fit(con, drivers=model).result_
    naive_kept = None
    if naive:
        without_case_mix = ServiceDrivers(factors=["first_response_hours", "tickets_90d"], max_accounts=None,
                                          robust=True, concordance=False).fit(con)
        naive_kept = WhatIf(change, horizon_days=world.horizon_days, n_draws=300, seed=seed).fit(
            con, drivers=without_case_mix).result_["accounts_kept"]
    drivers = ServiceDrivers(max_accounts=None, concordance=False).fit(con)
    scores = AccountRisk(horizon_days=RISK_HORIZON_DAYS).fit(con, drivers=drivers, as_of=AS_OF).accounts_
    con.close()
    ids = [f"A{i:05d}" for i in np.flatnonzero(state.active)]
    frame = pd.DataFrame({"account_id": ids, "truth": risk_truth}).merge(scores[["account_id", "churn_probability"]])
    frame["decile"] = pd.qcut(frame.churn_probability.rank(method="first"), 10, labels=False) + 1
    deciles = frame.groupby("decile").agg(predicted=("churn_probability", "mean"), truth=("truth", "mean"))
    return Seed(float(today.sum() - halved.sum()), result["accounts_kept"], float(today.sum()),
                result["baseline"]["expected_churned_accounts"], deciles, naive_kept)


def _fit_every_seed() -> dict[str, tuple[Seed, ...]]:
    """Every seed of every structure, two at a time in one pool (each seed is independent and single-threaded;
    starting the workers once saves their imports)."""
    tasks = [(name, seed) for name in STRUCTURES for seed in SEEDS]
    with seed_pool() as pool:
        done = list(pool.map(run_seed, [STRUCTURES[n] for n, _ in tasks], [seed for _, seed in tasks],
                             [STRUCTURES[n].confounded for n, _ in tasks]))
    return {name: tuple(r for (n, _), r in zip(tasks, done) if n == name) for name in STRUCTURES}


@pytest.fixture(scope="session")
def every_seed(tmp_path_factory) -> dict[str, tuple[Seed, ...]]:
    return once_per_run(tmp_path_factory, "worlds_estimators", _fit_every_seed)


def _summary(runs) -> str:
    return json.dumps([{"true": round(r.kept_true, 1), **{k: round(v, 1) for k, v in r.kept.items()}} for r in runs])


@pytest.mark.slow
@pytest.mark.parametrize("name", STRUCTURES)
def test_whatif_interval_covers_the_true_accounts_kept_on_18_of_20_seeds(name, every_seed):
    runs = every_seed[name]
    covered = sum(r.kept["ci_lower"] <= r.kept_true <= r.kept["ci_upper"] for r in runs)
    # the figures docs/models.md quotes (pytest -s shows them)
    churn = np.mean([r.churn_estimate for r in runs]) / np.mean([r.churn_true for r in runs]) - 1
    kept_true = np.mean([r.kept_true for r in runs])
    kept = np.mean([r.kept["estimate"] for r in runs]) - kept_true
    deciles = sum(r.deciles for r in runs) / len(runs)
    print(f"\n{name}: interval covers {covered}/{len(runs)}; expected churn {churn:+.1%}; accounts kept "
          f"{kept:+.1f} of {kept_true:.1f}; worst decile {(deciles.predicted - deciles.truth).abs().max():.1%} "
          f"(worst on one seed {max((r.deciles.predicted - r.deciles.truth).abs().max() for r in runs):.1%})")
    assert covered >= 18, (name, covered, _summary(runs))


FRAILTY_ATTENUATES = pytest.mark.xfail(strict=True, reason=(
    "an unmeasured frailty attenuates any proportional-hazards estimate of first response's effect (the frail "
    "churn early, so the survivors the model compares are selected): over 20 seeds the accounts kept are 6% low "
    "on average while the interval still covers the truth on 19; a shared-frailty model would remove it"))


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(n, marks=FRAILTY_ATTENUATES) if n.startswith("unmeasured frailty")
                                  else n for n in STRUCTURES])
def test_whatif_expected_churn_and_accounts_kept_are_within_5_percent_on_average(name, every_seed):
    runs = every_seed[name]
    churn_true = np.mean([r.churn_true for r in runs])
    assert np.mean([r.churn_estimate for r in runs]) == pytest.approx(churn_true, rel=0.05), name
    kept_true = np.mean([r.kept_true for r in runs])
    kept = np.mean([r.kept["estimate"] for r in runs])
    # with no effect nothing is kept: the error is measured against the churn the change could have touched
    scale = kept_true if kept_true > 0 else churn_true
    assert abs(kept - kept_true) <= 0.05 * scale, (name, kept, kept_true)


@pytest.mark.slow
@pytest.mark.parametrize("name", STRUCTURES)
def test_at_risk_deciles_are_within_3_points_of_the_true_risk_on_average(name, every_seed):
    runs = every_seed[name]
    mean = sum(r.deciles for r in runs) / len(runs)
    error = (mean.predicted - mean.truth).abs()
    assert error.max() < 0.03, (name, mean.round(4).to_dict())


@pytest.mark.slow
def test_without_case_mix_the_naive_whatif_understates_the_accounts_kept(every_seed):
    """Urgent tickets are answered faster and churn more: a model blind to case mix credits fast answers with less
    than they keep, and its interval misses the truth from below on most seeds, where the adjusted one covers."""
    runs = every_seed["case mix confounding with frailty"]
    below = sum(r.naive_kept["ci_upper"] < r.kept_true for r in runs)
    assert below >= 15, [(round(r.kept_true, 1), round(r.naive_kept["estimate"], 1)) for r in runs]


@pytest.mark.slow
def test_a_frailty_that_also_slows_first_response_is_beyond_any_model_and_the_e_value_says_how_strong():
    """The frailty raises churn and slows first response, and nothing measured carries it: the what-if overstates
    the accounts kept, as any model of these data would. What the pages say beside it is the E-value: the risk
    ratio a hidden confounder would need; here the frailty's own is at least that strong."""
    world = World(frailty_sd=0.8, frailty_in_service=0.5)
    runs = [run_seed(world, seed) for seed in range(3)]
    assert all(r.kept["estimate"] > 1.2 * r.kept_true for r in runs), _summary(runs)
    # per standard deviation of frailty the churn hazard ratio is exp(0.8); the E-value of the estimated effect of
    # one doubling (1.35 planted, more estimated) is below it, so the E-value's warning covers this frailty
    con = panel_database(generate(world, 0)[0])
    model = ServiceDrivers(factors=BUILT_IN.whatif_terms(["first_response_hours"]), max_accounts=None, robust=True,
                           concordance=False).fit(con)
    con.close()
    ratio = float(np.exp(model.model_.params_["first_response_hours"]))
    assert ratio > 1.35 and e_value(ratio) < np.exp(0.8) ** 2


def _resampled(panel: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The panel of accounts drawn with replacement, each draw an account of its own."""
    codes, ids = pd.factorize(panel.account_id)
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(ids.size))
    lengths = np.diff(np.append(starts, codes.size))
    pick = rng.integers(0, ids.size, ids.size)
    rows = np.concatenate([order[starts[a]:starts[a] + lengths[a]] for a in pick])
    copy = np.repeat(np.arange(pick.size), lengths[pick])
    return panel.iloc[rows].assign(account_id=[f"B{k:05d}" for k in copy]).reset_index(drop=True)


@pytest.mark.slow
def test_the_interval_is_as_wide_as_an_account_bootstrap_with_refits():
    """Why the interval needs no refits: on a flat world, the accounts kept re-estimated on 60 resamples of the
    accounts (each a refit of the model and its baseline, scored on the same active accounts) spread as the
    interval's draws do, within a quarter. Checked at length on two seeds with 150 resamples: standard deviation
    11.0 against 11.4, and 13.1 against 12.4."""
    world = World()
    panel, _ = generate(world, seed=0)
    con = panel_database(panel)
    terms = BUILT_IN.whatif_terms(["first_response_hours"])
    change = [("first_response_hours", "-50%")]
    model = ServiceDrivers(factors=terms, max_accounts=None, robust=True, concordance=False).fit(con)
    draws = WhatIf(change, horizon_days=world.horizon_days, n_draws=1000, seed=0).fit(con, drivers=model).draws_
    rows = current_rows(con)
    con.close()
    rng = np.random.default_rng(0)
    kept = []
    for _ in range(60):
        resampled = panel_database(_resampled(panel, rng))
        refit = ServiceDrivers(factors=terms, max_accounts=None, concordance=False).fit(resampled)
        kept.append(WhatIf(change, horizon_days=world.horizon_days, n_draws=1).fit(
            resampled, drivers=refit, rows=rows).result_["accounts_kept"]["estimate"])
        resampled.close()
    ratio = draws.accounts_kept.std() / np.std(kept)
    print(f"\ninterval's draws sd {draws.accounts_kept.std():.2f}, account bootstrap sd {np.std(kept):.2f}")
    assert 0.75 < ratio < 1.33, (draws.accounts_kept.std(), np.std(kept))
