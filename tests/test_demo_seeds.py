"""The composite measures over demo seeds: each seed's bad interactions' own model, adjusted for the measures a
bad interaction is made of, covers the truth with its 95% interval on most seeds, and is right on average.

The truth of a goodwill credit is the planted 0.7. The truth of one and of two or more bad interactions is their
total effect: the planted 1.0 (a single one is forgiven) and 2.2 (a pattern loses the account) hold credits at
none, but a credit answers about 30% of bad interactions and is their consequence, which their own model leaves
free, so it estimates the planted ratio times the credits' average softening (about 0.91 and 1.86; the demo
writes each seed's in planted_effects.json). Held to the planted 2.2 instead, the intervals cover it on 7 of 10
seeds and the estimates sit 16% below it on average: the credits' share, not a bias.

Each seed is a smaller demo built without its models (the data pipeline alone), then only these factors' own
models are fitted, in a process pool: the whole check takes well under a minute.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import json

import duckdb
import pandas as pd
import pytest

from pipelines.build import build_database
from pipelines.demo import generate_demo
from pipelines.models.factor_effects import FactorEffects
from pipelines.settings import BuildSettings
from shared_runs import once_per_run, seed_pool

pytestmark = pytest.mark.slow

SEEDS = range(1, 11)
ACCOUNTS = 2500
TERMS = ("bad_interactions_90d: 1 vs 0", "bad_interactions_90d: 2+ vs 0", "credited_bad_interactions_90d")


def truths(planted_effects: Path) -> dict[str, float]:
    """Each term's truth for its own model: the total effect where the demo wrote one, else the planted ratio."""
    truth = {}
    for effect in json.loads(planted_effects.read_text(encoding="utf-8"))["effects"]:
        term = (f"{effect['factor']}: {effect['term']}" if effect["factor"] == "bad_interactions_90d"
                else effect["factor"])
        truth[term] = effect.get("total_hazard_ratio", effect["hazard_ratio"])
    return {term: truth[term] for term in TERMS}


def fit_seed(seed: int) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as folder:
        demo = generate_demo(Path(folder) / "demo", n_accounts=ACCOUNTS, seed=seed)
        db = Path(folder) / "retention.duckdb"
        build_database(demo.accounts, demo.interactions, db, mrr_history=demo.mrr_history,
                       settings=BuildSettings(fit_models=False))
        with duckdb.connect(str(db), read_only=True) as con:
            fitted = FactorEffects(factors=["bad_interactions_90d", "credited_bad_interactions_90d"],
                                   outcome_models=False).fit(con)
        truth = truths(demo.planted_effects)
    effects = fitted.effects_[["term", "hazard_ratio", "ci_lower", "ci_upper"]]
    return effects.assign(seed=seed, truth=effects.term.map(truth))


def _fit_every_seed() -> pd.DataFrame:
    with seed_pool() as pool:
        return pd.concat(list(pool.map(fit_seed, SEEDS)), ignore_index=True)


@pytest.fixture(scope="session")
def seed_fits(tmp_path_factory) -> pd.DataFrame:
    return once_per_run(tmp_path_factory, "demo_seeds", _fit_every_seed)


@pytest.mark.parametrize("term", TERMS)
def test_composite_effects_cover_the_truth_over_demo_seeds(term, seed_fits):
    fits = seed_fits
    rows = fits[fits.term == term]
    covered = int(((rows.ci_lower <= rows.truth) & (rows.truth <= rows.ci_upper)).sum())
    log_errors = rows.hazard_ratio.map(math.log) - rows.truth.map(math.log)
    mean_log_error = float(log_errors.mean())
    print(f"\n{term}: truth {rows.truth.min():.2f}-{rows.truth.max():.2f} over the seeds; the 95% interval covers "
          f"it on {covered} of {len(rows)} seeds; estimates {math.exp(mean_log_error) - 1:+.1%} from it on average "
          "(geometric)")
    assert len(rows) == len(SEEDS)
    # 95% intervals on 10 seeds: 8 or more covered unless something is wrong (a binomial chance of about 1%)
    assert covered >= 8
    # the geometric mean over seeds within 15% of the truth: no systematic bias
    assert abs(mean_log_error) < math.log(1.15)
