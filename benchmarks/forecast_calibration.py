"""`retention bench --forecast-worlds N`: do the forecast's intervals hold what happened as often as they claim?

One world's backtest cannot say: its origins, a month apart, share the world's history, so their hits come and go
together and one world's 80% intervals may hold 100% of its months or 45% by chance. This draws N demo worlds
alike but for their seed (a third of churn involuntary, as `retention demo` plants), builds each without the
service models, runs the same backtest as `retention forecast --backtest` (12 origins, 6 months ahead) and pools
the months of every world. Nothing here prints: the bench command reports what `forecast_worlds` returns.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import duckdb
import pandas as pd

from pipelines.build import build_database
from pipelines.demo import generate_demo
from pipelines.models.forecast import backtest_summary, read_inputs, total_backtest
from pipelines.settings import BuildSettings

# the demo worlds' share of involuntary churn: the one `retention demo` plants
WORLD_INVOLUNTARY_SHARE = 1 / 3
WORLD_ORIGINS, WORLD_MONTHS, WORLD_DRAWS = 12, 6, 1000


def world_backtest(n_accounts: int, seed: int, workdir: Path, origins: int = WORLD_ORIGINS) -> pd.DataFrame:
    """One demo world's backtest rows (total_backtest's, with the world's seed)."""
    with tempfile.TemporaryDirectory(prefix=f"forecast-world-{seed}-", dir=workdir) as folder:
        demo = generate_demo(Path(folder) / "demo", n_accounts=n_accounts, seed=seed,
                             involuntary_share=WORLD_INVOLUNTARY_SHARE)
        db_path = Path(folder) / "world.duckdb"
        build_database(demo.accounts, demo.interactions, db_path, mrr_history=demo.mrr_history,
                       settings=BuildSettings(fit_models=False))
        with duckdb.connect(str(db_path), read_only=True) as con:
            inputs = read_inputs(con)
    result = total_backtest(inputs.accounts, inputs.mrr, inputs.as_of, origins=origins, months=WORLD_MONTHS,
                            draws=WORLD_DRAWS, seed=0)
    return result.assign(world=seed)


def forecast_worlds(n_worlds: int, n_accounts: int, first_seed: int, workdir: Path,
                    progress: Callable[[str], None] = lambda message: None,
                    origins: int = WORLD_ORIGINS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per world and measure, pooled per measure): the share of months the 80% and 95% intervals held, and the
    mean absolute percentage error at the longest horizon of the forecast and of the naive baseline."""
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for k in range(n_worlds):
        seed = first_seed + k
        results.append(world_backtest(n_accounts, seed, workdir, origins))
        progress(f"world {k + 1} of {n_worlds} (seed {seed}) backtested")
    pooled = pd.concat(results, ignore_index=True)
    per_world = pd.concat([backtest_summary(r).assign(world=r.world.iloc[0]) for r in results], ignore_index=True)
    return per_world, backtest_summary(pooled)
