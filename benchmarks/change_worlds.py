"""`retention bench --change-worlds N`: does `retention evaluate` find a planted change, and only a planted one?

Worlds of simulated account-month panels with a change of known effect, each fitted N times (seeds --seed onwards)
by `ChangeEffect`, as `retention evaluate` fits a build's panel; per world: the bias of the log hazard ratio, how
often its 95% interval holds the truth, how often it says "it worked" (the interval entirely below 1), and the same
for the accounts kept since the change. Nothing here prints: the bench command reports what `change_worlds` returns.

The worlds (`simulate_change` draws one panel; `planted_panel` is its panel alone, the one
tests/test_change_effect.py draws for the same seed):

  plain          that planted panel: accounts signing up over the two years before the window and during it,
                 a monthly hazard falling with tenure, a season, 1.3 times higher in the reached group (40% of
                 accounts), times the planted ratio for the reached group from month 24 of 36
  frailty        and each account's hazard times an unmeasured frailty, lognormal (sd 0.5 on the log scale, mean 1),
                 independent of whether the change reached it
  flat, rise_and_fall   the hazard over tenure flat, or rising to a peak at a year and falling after
  late_change    the change in month 33 of 36: three months after it
  small_treated  the change reaches 10% of accounts
  shocks         each calendar month's hazard times a common shock (lognormal, sd 0.3), both groups alike

each with a planted ratio of 0.7 and with none (1.0).

What the estimate is held to. The accounts kept since the change have one truth: among the reached accounts still
customers at the change (or signing up after it), the expected churns to the window's end without the change minus
those with it, computed from each account's own hazards (its frailty included) given the world up to the change
- that is, the accounts still customers at the end because of the change. (`accounts_kept`'s churns × (1 / ratio
− 1) counts the churn events averted on the months observed instead: an account kept in the change's first month
that churns later in the window is counted as kept and its later churn scaled up again, so it runs above this
truth the longer the window after the change.) The hazard ratio has two:

- the planted ratio r, the change's effect on each reached account's hazard (the conditional ratio, given its
  frailty). It is what a user reads ("the change cut the monthly churn risk of the accounts it reached by 30%"),
  and the bias, coverage and "it worked" columns are against it.
- the marginal ratio: the reached accounts' churn after the change over the churn the same at-risk accounts would
  have had without it, each account-month at its population's hazard for its tenure band and month (what a model
  without frailty can see), computed exactly from the simulation's hazards (`log_marginal_ratio`).

Without frailty the two differ only by the month's churn being a chance (1 − e^−h, whose ratio is not quite h's).
With frailty they part: at the change the reached survivors' frailty is what it would have been without it, so the
marginal ratio starts at r; but from then on the change keeps frail accounts that would have left, the reached
survivors grow frailer than they would have been, and their marginal ratio drifts from r towards 1 (the built-in
selection of hazard ratios, Hernán 2010). Frailty balanced between the groups at the change does not prevent this:
the drift comes from the change itself. The difference-in-differences compares the reached survivors with the
others' trend, so the drift pulls its estimate from r towards the marginal ratio; the gap grows with the frailty's
spread, the effect's size and the churn since the change, and accounts reached at signup carry none of it. Frailty
also bends the groups' trends apart without any change (the riskier reached group loses its frail accounts faster,
so its excess hazard shrinks with tenure, and the window's tenures lengthen over the calendar), which reads as a
little extra effect and pulls the estimate back towards r: on big panels it lands between the two. We hold it to r,
the effect the change had on each account, and the marginal columns tell a gap of definition from an estimator's
bias; the frailty world's spread is one where the two truths are close, a much wider one parts them further.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd

from pipelines.models.change_effect import (TENURE_BAND_DAYS, TENURE_BANDS, ChangeEffect, ChangeEffectError,
                                           accounts_kept)

WINDOW_START = pd.Timestamp("2023-07-01")
DAYS_PER_MONTH = 30
# accounts join from two years before the window until its last month: the window opens on a base of all tenures
SIGNUP_MONTHS_BEFORE = 24
# the reached group's hazard relative to the others' before the change: the design needs only parallel trends,
# not equal levels
REACHED_HAZARD_MULTIPLIER = 1.3
SEASON_AMPLITUDE = 0.25
BASELINES = ("falling", "flat", "rise_and_fall")
PLANTED_RATIO = 0.7

# The targets: over the panels of a world with a planted change, the mean log estimate within this share
# of the log effect and the 95% intervals holding the truth within this range; with no change, a false "it worked"
# (an interval entirely below 1) at most this often (a two-sided interval errs on that side half of its misses)
BIAS_LIMIT = 0.10
COVERAGE_RANGE = (0.93, 0.97)
FALSE_WORKED_LIMIT = 0.055


@dataclass(frozen=True)
class ChangeWorld:
    """One kind of simulated panel with a planted change; `simulate_change` explains each parameter."""

    name: str
    hazard_ratio: float = PLANTED_RATIO
    accounts: int = 3000
    months: int = 36
    change_month: int = 24
    treated_share: float = 0.4
    baseline: str = "falling"
    frailty_sd: float = 0.0
    shock_sd: float = 0.0
    drift: float = 0.0


WORLD_SHAPES: dict[str, dict] = {
    "plain": {},
    "frailty": {"frailty_sd": 0.5},
    "flat": {"baseline": "flat"},
    "rise_and_fall": {"baseline": "rise_and_fall"},
    "late_change": {"change_month": 33},
    "small_treated": {"treated_share": 0.1},
    "shocks": {"shock_sd": 0.3},
}
# what world_fits keeps of each fit (none for a panel the estimator refused)
FIT_COLUMNS = ("log_estimate", "log_se", "ci_lower", "ci_upper", "kept_estimate", "kept_lower", "kept_upper")
CHANGE_WORLDS = tuple(ChangeWorld(name, ratio, **shape) for name, shape in WORLD_SHAPES.items()
                      for ratio in (PLANTED_RATIO, 1.0))


@dataclass(frozen=True)
class SimulatedChange:
    """A simulated panel (read_change_panel's columns), the change's date and the truths it is held to."""

    panel: pd.DataFrame
    change_date: date
    kept_truth: float
    log_marginal_ratio: float


def baseline_hazard(baseline: str, tenure_months: np.ndarray) -> np.ndarray:
    """The monthly hazard over tenure for a typical account of the comparison group outside the season."""
    tenure = np.maximum(np.asarray(tenure_months, dtype=float), 0.0)
    if baseline == "falling":  # new accounts leave most, then a floor
        return 0.03 * np.exp(-0.03 * tenure) + 0.006
    if baseline == "flat":
        return np.full(tenure.shape, 0.015)
    if baseline == "rise_and_fall":  # a first renewal that many do not make: a peak at a year, then calmer
        return 0.006 + 0.03 * (tenure / 12) * np.exp(1 - tenure / 12)
    raise ValueError(f"baseline must be one of {', '.join(BASELINES)}, not {baseline!r}")


def simulate_change(seed: int, hazard_ratio: float = PLANTED_RATIO, accounts: int = 3000, months: int = 36,
                    change_month: int = 24, drift: float = 0.0, treated_share: float = 0.4,
                    baseline: str = "falling", frailty_sd: float = 0.0, shock_sd: float = 0.0) -> SimulatedChange:
    """One panel of `accounts` accounts over `months` calendar months from WINDOW_START, with its truths.

    Accounts sign up uniformly from SIGNUP_MONTHS_BEFORE months before the window to its last month but one; a
    share `treated_share` of them is the group the change reaches. An account's monthly hazard is

        baseline_hazard(baseline, tenure) × (1 + SEASON_AMPLITUDE sin(2π month / 12)) × shock(month) × frailty
        × REACHED_HAZARD_MULTIPLIER e^(drift (month − change_month)) if reached
        × hazard_ratio if reached and month ≥ change_month

    and it churns that month with chance 1 − e^−hazard. shock(month) is lognormal with sd `shock_sd` (mean 1), one
    per calendar month for every account; frailty is lognormal with sd `frailty_sd` (mean 1), one per account,
    drawn independently of the group. `drift` is a trend the reached group has throughout, change or not (a
    violation of parallel trends). The change starts on the 1st of `change_month`, so no month is partly after it.

    With frailty and shocks off, the random draws and so the panel are those of the tests' former planted_panel
    for the same seed; frailty and shocks come from a second stream of the seed.
    """
    rng = np.random.default_rng(seed)
    signup = rng.integers(-SIGNUP_MONTHS_BEFORE, months - 1, accounts)
    reached = rng.random(accounts) < treated_share
    extra = np.random.default_rng([seed, 1])
    frailty = np.exp(extra.normal(-frailty_sd ** 2 / 2, frailty_sd, accounts)) if frailty_sd else np.ones(accounts)
    shocks = np.exp(extra.normal(-shock_sd ** 2 / 2, shock_sd, months)) if shock_sd else np.ones(months)
    alive = np.ones(accounts, dtype=bool)
    # from the change on: each account's chance of still being a customer with the change and without it, given
    # the world up to the change
    survival_with = survival_without = np.zeros(accounts)
    kept_truth = marginal_churns = marginal_counterfactual = 0.0
    columns: dict[str, list[np.ndarray]] = {"account_id": [], "month": [], "tenure_days": [], "churned": [],
                                            "is_treated": []}
    for month in range(months):
        at_risk = alive & (signup <= month)
        tenure = month - signup
        hazard = baseline_hazard(baseline, tenure) * (1 + SEASON_AMPLITUDE * np.sin(2 * np.pi * month / 12))
        hazard = hazard * np.where(reached, REACHED_HAZARD_MULTIPLIER * np.exp(drift * (month - change_month)), 1.0)
        without = hazard * frailty * shocks[month]
        hazard = hazard * np.where(reached & (month >= change_month), hazard_ratio, 1.0) * frailty * shocks[month]
        churned = at_risk & (rng.random(accounts) < 1 - np.exp(-hazard))
        if month == change_month:  # not yet signed up counts as still to come: such an account is reached at signup
            survival_with = survival_without = alive.astype(float)
        if month >= change_month:
            signed = reached & (signup <= month)
            chance_with, chance_without = (1 - np.exp(-hazard)) * signed, (1 - np.exp(-without)) * signed
            churns_with, churns_without = survival_with * chance_with, survival_without * chance_without
            kept_truth += float(churns_without.sum() - churns_with.sum())
            # the marginal ratio's parts: each tenure band's churn with the change, and the churn its at-risk
            # accounts would have had at the band's hazard in the population without the change
            band = np.minimum(np.maximum(tenure, 0) * DAYS_PER_MONTH // TENURE_BAND_DAYS, TENURE_BANDS)
            at_risk_with = np.bincount(band, survival_with * signed, TENURE_BANDS + 1)
            at_risk_without = np.bincount(band, survival_without * signed, TENURE_BANDS + 1)
            hazard_without = np.divide(np.bincount(band, churns_without, TENURE_BANDS + 1), at_risk_without,
                                       out=np.zeros(TENURE_BANDS + 1), where=at_risk_without > 0)
            marginal_churns += float(churns_with.sum())
            marginal_counterfactual += float((at_risk_with * hazard_without).sum())
            survival_with, survival_without = survival_with * (1 - chance_with), survival_without * (1 - chance_without)
        index = np.flatnonzero(at_risk)
        for name, values in (("account_id", index), ("month", np.full(len(index), month)),
                             ("tenure_days", np.maximum(tenure[index], 0) * DAYS_PER_MONTH),
                             ("churned", churned[index].astype(int)), ("is_treated", reached[index])):
            columns[name].append(values)
        alive &= ~churned
    change_date = (WINDOW_START + pd.DateOffset(months=change_month)).date()
    log_marginal = math.log(marginal_churns / marginal_counterfactual) if marginal_counterfactual > 0 else math.nan
    month_starts = pd.DatetimeIndex([WINDOW_START + pd.DateOffset(months=m) for m in range(months)]).as_unit(
        WINDOW_START.unit)
    panel = {name: np.concatenate(parts) for name, parts in columns.items()}
    panel["month_start"] = month_starts[panel.pop("month")]
    frame = pd.DataFrame(panel)[["account_id", "month_start", "tenure_days", "churned", "is_treated"]]
    return SimulatedChange(frame, change_date, kept_truth, log_marginal)


def planted_panel(seed: int, hazard_ratio: float = PLANTED_RATIO, accounts: int = 3000, months: int = 36,
                  change_month: int = 24, drift: float = 0.0, **world) -> pd.DataFrame:
    """simulate_change's panel alone (its change on the 1st of `change_month` from 2023-07-01)."""
    return simulate_change(seed, hazard_ratio, accounts, months, change_month, drift, **world).panel


def simulate_world(world: ChangeWorld, seed: int) -> SimulatedChange:
    return simulate_change(seed, world.hazard_ratio, world.accounts, world.months, world.change_month, world.drift,
                           world.treated_share, world.baseline, world.frailty_sd, world.shock_sd)


def world_fits(world: ChangeWorld, seeds: Sequence[int],
               progress: Callable[[str], None] = lambda message: None) -> pd.DataFrame:
    """One row per panel: the fit's hazard ratio and accounts kept since the change beside the panel's truths, and
    the fit's wall time; a panel the estimator refuses has its reason in `error`."""
    out = []
    for position, seed in enumerate(seeds):
        simulated = simulate_world(world, seed)
        row: dict[str, object] = {"world": world.name, "planted_ratio": world.hazard_ratio, "seed": seed,
                                  "kept_truth": simulated.kept_truth,
                                  "log_marginal_ratio": simulated.log_marginal_ratio, "error": None,
                                  **dict.fromkeys(FIT_COLUMNS, math.nan)}
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():  # a sparse month's fit may warn; the figures say what matters here
                warnings.simplefilter("ignore")
                fitted = ChangeEffect(simulated.change_date).fit(simulated.panel)
        except ChangeEffectError as error:
            row["error"] = str(error)
        else:
            ratio = fitted.hazard_ratio_
            kept = accounts_kept(fitted.rows_, ratio)["accounts_since"]
            row.update(log_estimate=ratio["log_estimate"], log_se=ratio["log_se"], ci_lower=ratio["ci_lower"],
                       ci_upper=ratio["ci_upper"], kept_estimate=kept["estimate"], kept_lower=kept["ci_lower"],
                       kept_upper=kept["ci_upper"])
        row["seconds"] = time.perf_counter() - started
        out.append(row)
        progress(f"{world.name} {world.hazard_ratio:g}: panel {position + 1} of {len(seeds)} (seed {seed}) in "
                 f"{row['seconds']:.1f} s" + (f", refused: {row['error']}" if row["error"] else ""))
    return pd.DataFrame(out)


def summarise_fits(fits: pd.DataFrame) -> dict:
    """A world's row of change_worlds' table from its panels' fits (world_fits' rows)."""
    planted = float(fits.planted_ratio.iloc[0])
    done = fits[fits.error.isna()]
    n = len(done)
    log_truth = math.log(planted)
    estimates = done.log_estimate.to_numpy(float)
    marginal = done.log_marginal_ratio.to_numpy(float)
    kept_errors = (done.kept_estimate - done.kept_truth).to_numpy(float)
    covered = (done.ci_lower <= planted) & (planted <= done.ci_upper)
    covered_marginal = (done.ci_lower <= np.exp(marginal)) & (np.exp(marginal) <= done.ci_upper)
    kept_covered = (done.kept_lower <= done.kept_truth) & (done.kept_truth <= done.kept_upper)

    def mean(values) -> float:
        return float(np.mean(values)) if n else math.nan

    def mean_se(values) -> float:  # the Monte Carlo standard error of a mean over the panels
        return float(np.std(values, ddof=1) / math.sqrt(n)) if n > 1 else math.nan

    def share_of(value: float, effect: float) -> float:  # a percentage of the effect; none without an effect
        return 100 * value / abs(effect) if planted != 1 else math.nan

    kept_truth = mean(done.kept_truth)
    return {
        "world": fits.world.iloc[0], "planted_ratio": planted, "panels": n, "refused": int(len(fits) - n),
        "log_truth": log_truth, "mean_log_estimate": mean(estimates), "bias_log": mean(estimates - log_truth),
        "bias_pct": share_of(mean(estimates - log_truth), log_truth),
        "bias_pct_se": share_of(mean_se(estimates), log_truth),
        "coverage": mean(covered), "coverage_se": math.sqrt(mean(covered) * (1 - mean(covered)) / n) if n else math.nan,
        "said_it_worked": mean(done.ci_upper < 1),
        "log_marginal_truth": mean(marginal),
        "bias_marginal_pct": share_of(mean(estimates - marginal), mean(marginal)),
        "coverage_marginal": mean(covered_marginal),
        "kept_truth": kept_truth, "kept_mean_estimate": mean(done.kept_estimate), "kept_bias": mean(kept_errors),
        "kept_bias_pct": share_of(mean(kept_errors), kept_truth),
        "kept_bias_pct_se": share_of(mean_se(kept_errors), kept_truth),
        "kept_coverage": mean(kept_covered),
        "seconds_per_fit": float(fits.seconds.mean()),
    }


def change_worlds(n_panels: int, worlds: Sequence[ChangeWorld] = CHANGE_WORLDS, first_seed: int = 0,
                  progress: Callable[[str], None] = lambda message: None,
                  on_world: Callable[[dict], None] = lambda row: None) -> pd.DataFrame:
    """One row per world: its panels (seeds first_seed onwards, the same in every world, so worlds differ by their
    shape and not by their luck) fitted by ChangeEffect, and how the estimates stood against the truths.

    Columns: world, planted_ratio, panels (fitted), refused (panels the estimator refused); log_truth (log of the
    planted ratio), mean_log_estimate, bias_log, bias_pct (the bias as a percentage of the log effect; none without
    an effect) and bias_pct_se (its Monte Carlo standard error); log_marginal_truth, bias_marginal_pct and
    coverage_marginal (against the marginal ratio, see the module's docstring); coverage (share of 95% intervals
    holding the planted ratio) and coverage_se; said_it_worked (share of intervals entirely below 1: the power with
    an effect, a false "it worked" without); kept_truth, kept_mean_estimate, kept_bias, kept_bias_pct,
    kept_bias_pct_se, kept_coverage (the accounts kept since the change, the same way); seconds_per_fit (wall time of
    ChangeEffect.fit). `on_world` has each world's row as soon as its panels are done: a long run's finished worlds
    are not lost with an unfinished one."""
    seeds = range(first_seed, first_seed + n_panels)
    rows = []
    for world in worlds:
        rows.append(summarise_fits(world_fits(world, seeds, progress)))
        on_world(rows[-1])
    return pd.DataFrame(rows)


def missed_targets(table: pd.DataFrame) -> list[str]:
    """The issue's targets a row of change_worlds' table misses, each as a sentence (none: all held)."""
    out = []
    for row in table.itertuples():
        label = f"{row.world} (planted ratio {row.planted_ratio:g})"
        if row.planted_ratio != 1.0:
            if not abs(row.bias_pct) < 100 * BIAS_LIMIT:
                out.append(f"{label}: bias {row.bias_pct:+.1f}% of the effect (± {row.bias_pct_se:.1f}), beyond "
                           f"±{BIAS_LIMIT:.0%}")
            if not COVERAGE_RANGE[0] <= row.coverage <= COVERAGE_RANGE[1]:
                out.append(f"{label}: 95% intervals held the truth {row.coverage:.1%} of the time (± "
                           f"{row.coverage_se:.1%}), outside {COVERAGE_RANGE[0]:.0%}–{COVERAGE_RANGE[1]:.0%}")
        elif not row.said_it_worked <= FALSE_WORKED_LIMIT:
            out.append(f"{label}: said it worked {row.said_it_worked:.1%} of the time, above "
                       f"{FALSE_WORKED_LIMIT:.1%}")
    return out


def with_accounts(worlds: Sequence[ChangeWorld], accounts: int) -> tuple[ChangeWorld, ...]:
    """The worlds with `accounts` accounts each (a quicker or a sharper run than their own)."""
    return tuple(replace(world, accounts=accounts) for world in worlds)
