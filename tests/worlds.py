"""Worlds unlike the demo, for testing the what-if's absolute numbers: a generator with switchable structure.

Each world draws accounts that join over `months` months and are followed to an as-of date, as an account-month
panel the models read (`account_months`, one row per account and month, the month's service measures known at
its start). What can be switched:

  baseline     the hazard over tenure with every measure typical: "flat", "rising" or "falling"
  frailty_sd   an unmeasured frailty (log scale) that raises churn and ticket volume (measured, in the model)
  frailty_in_service   how much the frailty also slows first response: above 0 it confounds the factor with
               something nobody measured, which no model can take out (the E-value's case)
  confounded   case mix: an account in trouble files urgent tickets, which are answered faster, and churns more
  months       the history's length: a short one leaves the horizon past the longest observed tenure
  effect       the hazard ratio per doubling of first response (1.0: a factor with no effect)
  involuntary  a second churn cause's daily hazard (payment failures: constant, moved by nothing measured),
               competing with the first (voluntary, the one service moves); 0: one cause only

The truth of "halve every first response from now on" is the generator's own: for each account active at as-of,
its future months are drawn forward (its trouble, its measures' noise) many times, with and without the change,
given its frailty, and the chance it churns within the horizon is the average over those paths. A policy acts
month after month, so nothing is held at today's value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from pipelines.models.causal_structure import BUILT_IN
from pipelines.models.store import store_model_info

DAYS_PER_MONTH = 30
TYPICAL_FIRST_RESPONSE_HOURS = 4.0
URGENT_SHARE_HR = 1.25  # per 10 points of urgent share, when case mix confounds
BASE_DAILY_HAZARD = 0.02 / DAYS_PER_MONTH
EMPTY_MEASURES = ("resolution_hours_median", "sla_breach_rate", "csat_mean", "reopen_rate", "handoff_rate",
                  "escalation_rate", "repeat_contact_rate", "agent_update_rate", "bad_interactions_90d",
                  "credited_bad_interactions_90d", "credits_90d")


@dataclass(frozen=True)
class World:
    baseline: str = "flat"
    frailty_sd: float = 0.0
    frailty_in_service: float = 0.0
    confounded: bool = False
    months: int = 36
    effect: float = 1.35
    n_accounts: int = 3000
    horizon_days: int = 360
    involuntary: float = 0.0

    def baseline_daily_hazard(self, tenure_months: np.ndarray) -> np.ndarray:
        years = np.asarray(tenure_months, float) / 12.0
        if self.baseline == "flat":
            return np.full(years.shape, BASE_DAILY_HAZARD)
        if self.baseline == "rising":
            return BASE_DAILY_HAZARD * (0.5 + 0.5 * years)
        if self.baseline == "falling":
            return BASE_DAILY_HAZARD * (0.4 + 1.6 * np.exp(-years))
        raise ValueError(f"unknown baseline {self.baseline!r}")


@dataclass
class State:
    """Where each account stands at as-of: what the truth is drawn forward from."""

    active: np.ndarray  # bool per account
    tenure_months: np.ndarray
    frailty: np.ndarray
    service: np.ndarray
    trouble: np.ndarray


def _month(world: World, rng: np.random.Generator, service, trouble, frailty):
    """One month's measures and log hazard ratio, from last month's trouble; returns (trouble, measures, lp)."""
    trouble = 0.7 * trouble + rng.normal(0.0, 0.7, trouble.shape)
    share = 1.0 / (1.0 + np.exp(-(-1.6 + 1.3 * trouble)))
    first_response = np.exp(np.log(TYPICAL_FIRST_RESPONSE_HOURS) + service + rng.normal(0.0, 0.4, trouble.shape)
                            - (2.2 * share if world.confounded else 0.0))
    lp = math.log(world.effect) * np.log2(first_response / TYPICAL_FIRST_RESPONSE_HOURS) + frailty
    if world.confounded:
        lp = lp + math.log(URGENT_SHARE_HR) * (share - 0.2) * 10
    return trouble, first_response, share, lp


def generate(world: World, seed: int) -> tuple[pd.DataFrame, State]:
    """The panel as the models read it, and each account's state at as-of."""
    rng = np.random.default_rng(seed)
    n = world.n_accounts
    entry = rng.integers(0, world.months, n)
    frailty = rng.normal(0.0, world.frailty_sd, n)
    service = rng.normal(0.0, 0.5, n) + world.frailty_in_service * frailty
    plan = rng.choice(["Starter", "Growth", "Business"], n, p=[0.5, 0.3, 0.2])
    trouble = rng.normal(0.0, 1.0, n)
    alive, churned_ever = np.zeros(n, bool), np.zeros(n, bool)
    # the competing cause draws from its own stream, so a world without it is the world it always was
    involuntary_rng = np.random.default_rng([seed, 1])
    frames = []
    for month in range(world.months):
        alive |= (entry == month) & ~churned_ever
        trouble, first_response, share, lp = _month(world, rng, service, trouble, frailty)
        tenure = month - entry
        daily = world.baseline_daily_hazard(np.maximum(tenure, 0)) * np.exp(lp)
        churn_day = rng.exponential(1.0 / daily)
        involuntary = np.inf if not world.involuntary else involuntary_rng.exponential(1.0 / world.involuntary, n)
        is_involuntary = involuntary < churn_day
        churn_day = np.minimum(churn_day, involuntary)
        churned = alive & (churn_day < DAYS_PER_MONTH)
        start = tenure * DAYS_PER_MONTH
        stop = start + np.where(churned, np.maximum(np.ceil(churn_day), 1), DAYS_PER_MONTH)
        rows = np.flatnonzero(alive)
        frames.append(pd.DataFrame({
            "account_id": [f"A{i:05d}" for i in rows],
            "month_start": pd.Timestamp("2023-01-01") + pd.DateOffset(months=month),
            "start_day": start[rows], "stop_day": stop[rows], "churned": churned[rows].astype(int),
            "churn_cause": np.where(churned[rows], np.where(is_involuntary[rows], "involuntary", "voluntary"), None),
            "mrr": 100.0, "plan": plan[rows],
            "tickets_90d": rng.poisson((3.0 + 2.0 * share[rows]) * np.exp(0.3 * frailty[rows])),
            "first_response_hours_median": first_response[rows], "high_priority_share_90d": share[rows],
            "live_channel_share_90d": rng.uniform(0.1, 0.5, rows.size)}))
        churned_ever |= churned
        alive &= ~churned
    panel = pd.concat(frames, ignore_index=True)
    for column in EMPTY_MEASURES:
        panel[column] = np.nan
    state = State(active=alive.copy(), tenure_months=world.months - entry, frailty=frailty, service=service,
                  trouble=trouble)
    return panel, state


def true_churn(world: World, state: State, seed: int, paths: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Each active account's chance of churning within the horizon, today and with every first response halved,
    drawn forward `paths` times from as-of. Both read the same paths (common random numbers): halving multiplies
    each month's hazard by exactly 1 / effect, so their difference carries no noise of its own."""
    rng = np.random.default_rng(seed)
    index = np.flatnonzero(state.active)
    shape = (paths, index.size)
    trouble = np.broadcast_to(state.trouble[index], shape).copy()
    service, frailty = state.service[index], state.frailty[index]
    cumulative = np.zeros(shape)
    months, remainder = divmod(world.horizon_days, DAYS_PER_MONTH)
    for step in range(months + (1 if remainder else 0)):
        days = DAYS_PER_MONTH if step < months else remainder
        trouble, _, _, lp = _month(world, rng, service, trouble, frailty)
        tenure = state.tenure_months[index] + step
        cumulative += world.baseline_daily_hazard(tenure) * np.exp(lp) * days
    # the competing cause's hazard is the same with the change or without it
    involuntary = world.involuntary * world.horizon_days
    today = 1.0 - np.exp(-cumulative - involuntary).mean(axis=0)
    halved = 1.0 - np.exp(-cumulative / world.effect - involuntary).mean(axis=0)
    return today, halved


def panel_database(panel: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    """An in-memory database holding the panel as the models read it."""
    con = duckdb.connect()
    con.register("panel_frame", panel)
    con.execute("create table account_months as select * replace (cast(month_start as date) as month_start) "
                "from panel_frame")
    con.unregister("panel_frame")
    con.execute("create table segment_columns as select 'plan' as column_name, 'categorical' as kind")
    con.execute("create table build_info as select '{\"window_days\": 90}' as settings_json")
    con.execute("create table interaction_metrics (account_id varchar, created_at timestamp, "
                "first_response_at timestamp, first_response_hours double, sla_target_hours double, "
                "reopened boolean, csat double, handoffs integer)")
    # a world has no tickets: the what-if's ticket-by-ticket SLA check finds none to recheck
    con.execute("create table sla_window_tickets (account_id varchar, first_response_hours double, "
                "sla_target_hours double, bad_for_other_reasons boolean)")
    # what a build records of its factor models: the causal structure a what-if reads its consequences from
    store_model_info(con, "factor_effects", {"model": "factor_effects", "causal_structure": BUILT_IN.as_dict()})
    return con
