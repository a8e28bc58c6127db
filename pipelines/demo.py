"""The demo dataset: seeded, vectorised, with planted and documented effects (what `retention demo` writes).

Source: simulated by this module; nothing in it describes a real company. Same seed and size give
byte-identical files; the as-of date is fixed (2026-06-30), so the output does not depend on today.

Size (default seed 7, 5,000 accounts): 168,396 interactions and 63,531 mrr_history rows, 37.6% of
accounts churned by the as-of date, 15% of accounts that never contact support. Rows scale linearly
with ``n_accounts`` (100,000 accounts: 3.4 million interactions; 1,000,000: about 34 million).
History: signups from 2023-07-01 (rising gently over time) to a week before the as-of date.

Files written to ``out_dir`` (CSV with a header, or Parquet):

``accounts``: one row per account.
    account_id (``A000001`` ..., oldest signup first), signup_date (YYYY-MM-DD), churn_date (empty =
    still a customer), mrr (the last month's MRR, currency units), plan (Starter, Growth, Business,
    Enterprise; typical MRR 80, 400, 1,900, 9,000), region, industry, company_size (1-10 ... 1000+;
    larger companies contact support more and buy larger plans), csm (the customer success manager who
    owns the account: six names, each region's accounts dealt in turn to its managers by account number,
    e.g. Dana Ruiz and Sam Patel share North America; derived, not drawn, so it moves no other number),
    and only with churn causes planted (below) churn_reason, last (empty for a customer).
``interactions``: one row per support ticket.
    interaction_id (``T0000001`` ..., in order of creation), account_id, created_at, first_response_at,
    resolved_at (UTC, ``YYYY-MM-DD HH:MM:SS``; empty while still open at the as-of date), channel
    (email, chat, phone, web), severity (low, normal, high, urgent; mostly normal and low), csat (1-5,
    empty when the customer did not rate, about 60%), reopens, handoffs, escalated (true/false),
    agent_updates (proactive status updates), credit_amount (0 when none).
``mrr_history``: one row per account per calendar month it was a customer: account_id, month
    (YYYY-MM-01), mrr.
``events.csv``: the support changes the team recorded, as ``retention evaluate --events`` reads them: name, date
    (YYYY-MM-DD), treated (the accounts it reached, as a filter such as ``region=EMEA``). One row: the planted
    change (below).
``planted_effects.json``: the true hazard ratios below, the revenue rules, the row counts, the true
    what-if and the planted change's true effect (below); with churn causes planted, ``causes`` too (below).

How it is made. Every account gets a service level (a multiplier on response and resolution times;
priority plans get faster service), a reopen propensity and a propensity to receive proactive updates,
each drifting month to month (AR(1)) around the account's own level, plus a support-wide staffing
swing. Every account also goes through product trouble: a latent level plus an AR(1) drift on the logit
of the share of its tickets that are high or urgent (15% at no trouble, about a fifth of all tickets);
an account in trouble files more high and urgent tickets and a few more tickets overall. Tickets arrive
month by month as Poisson counts driven by company size, yearly seasonality (peak in January) and the
weekday (quiet weekends). Unhappy accounts file more tickets: volume rises with slow service and with
reopen propensity, so ticket count correlates with the harmful factors without causing churn (the
ticket-volume trap). Response and resolution times are lognormal, scaled by severity, channel and the
account's current service level; CSAT falls with slow response, reopens and handoffs; about 30% of bad
interactions (SLA breach, reopen, CSAT 1-2, 2+ handoffs) get a goodwill credit.

Case-mix confounding: high and urgent tickets are answered first (a priority queue), so an account in
trouble sees faster first responses and, through its high-priority share, churns more. A model without
the share finds first response far weaker than planted. Default demo, lifelines on the build's panel,
first response per doubling with its 95% interval: every planted term but case mix 1.10 (1.06-1.14), with
the share 1.26 (1.21-1.32); first response with plan and volume only 1.13 (1.09-1.18), with the share too
1.28 (1.23-1.33), the total effect (the direct 1.25 plus the path through SLA breaches and bad
interactions, which that model leaves free).

Churn is drawn from the build's own panel, so every measure has one definition: the potential data (as
if nobody churned) go through `pipelines.build.build_database`; each row of its ``account_months`` panel
gets a hazard h0(tenure) * exp(lp) from the row's trailing 90-day measures, where h0 is constant within
a day of tenure and falls from 2.5% a month at signup towards 1.6% (1.8% after a year); churn is then an
exponential draw within each row (memoryless, so a proportional-hazards model with time-varying
covariates holds exactly; the churn day is floored to whole days). Interactions created after the churn
date are dropped. The planted log-hazard terms (a NULL measure contributes 0, as if at its reference):

====================================  ==========================  ============  ============================
factor (panel column)                 term                        hazard ratio  reference
====================================  ==========================  ============  ============================
plan                                  plan=Starter                1.8           any other plan
first_response_hours (_median)        per doubling                1.25          4 hours
reopen_rate                           per +10 percentage points   1.15          10%
agent_update_rate                     per +10 percentage points   0.93          40%
high_priority_share_90d               per +10 percentage points   1.2           20% (case mix)
bad_interactions_90d                  1 vs 0                      1.0           0 (one bad one is forgiven)
bad_interactions_90d                  2+ vs 0                     2.2           0 (a pattern loses the account)
credited_bad_interactions_90d         any credited bad one        0.7           none
tickets_90d                           per doubling of 1+tickets   1.0           (a true null; the trap)
sla_breach_rate, csat, resolution     no direct effect            1.0
hours, handoff_rate, escalation_rate,
repeat_contact_rate
====================================  ==========================  ============  ============================

The true what-if (``true_whatif`` in planted_effects.json): every ticket's first response halved. For the
accounts still customers at the as-of date, each keeps its latest panel row's measures for the next 365
days (what the product's what-if assumes); the row under the change is rebuilt by the build from the
account's tickets with halved first responses, so SLA breaches and bad interactions follow (CSAT and the
rest as drawn). Expected churn is 1 - exp(-(H0(t + 365) - H0(t)) * exp(lp)) at tenure t; accounts kept is
its sum today minus its sum under the change, ARR kept the same weighted by 12 x the last MRR. The
rebuild reads only the active accounts' last four months (100,000 accounts: 6 s beside the potential
build's 36 s, a tenth of the demo's time).
Default demo: 117.2 of 3,118 active accounts kept (98.9 if SLA breaches and bad interactions were held
at today's values), ARR kept 1,734,560.

The planted change (``planted_change`` in planted_effects.json; what ``retention evaluate`` is checked against):
"EMEA support hires": from 2025-07-01 every ticket of the EMEA accounts is answered twice as fast (its first
response halved, its resolution as much sooner; CSAT and the rest as drawn). It is applied to the tickets after
they are drawn, so every other account and every earlier month is exactly the demo without it; churn follows
through the planted hazard alone (faster first responses, fewer SLA breaches and bad interactions), the change
has no effect of its own. Its true effect comes from the generator's hazards: the reached accounts' months since
the change are built again from their tickets without it, and each account's chance of churning is taken under
both. Default demo: 1,420 EMEA accounts at risk since the change; hazard ratio 0.83 (expected churns with the
change over those without, across their months at risk); 40.8 accounts kept by the as-of date (ARR 513,835); 36.7
of the 922 still customers kept over the next year (ARR 529,572).

Revenue: the first month's MRR is drawn by plan; in a month whose hazard ratio is below 0.9 an account
expands 1-2% with probability 35% (15% when below 1.5, 3% otherwise, where it may also shrink 3-8% with
probability 5%); in its churn month and the two before it a churning account contracts 5-15% with
probability 80% each month.

Planted churn causes (opt-in: ``involuntary_share`` > 0, ``retention demo --involuntary-share 1/3``; at the
default 0 the files are those above, byte for byte). Voluntary and involuntary churn are competing risks. The
voluntary hazard is the one above, drawn exactly as without causes; every account also has an involuntary hazard
of its own (a card that fails, a charge disputed): constant over tenure, 1.5 times higher on Starter (small plans
pay by card, larger ones are invoiced), moved by no service measure (hazard ratio 1.0 for each), its baseline
calibrated on the potential panel so that about ``involuntary_share`` of the churn expected by the as-of date is
involuntary. Its times and every reason come from a separate random stream. The churn observed is the earlier of
the two; tickets after it are dropped and MRR ends as for any churn, but an involuntary churn comes without the
contraction before it. The accounts file gains churn_reason: a voluntary churn one of Stripe's cancellation
feedback words (too_expensive 24%, unused 16%, missing_features 15%, switched_service 14%, customer_service 10%,
other 10%, too_complex 6%, low_quality 5%; drawn independently of the account), an involuntary one payment_failed
(90%) or payment_disputed; 3% of churns of either cause give none, which the build counts as unknown. The
voluntary churns pre-empted by an earlier involuntary one are fewer than the involuntary churns added, so more
accounts churn in all. planted_effects.json gains ``causes`` (each cause's hazard, the churns by planted cause, by
reason and by the cause the build will show); its ``effects`` are the voluntary cause's. The true what-if combines
both hazards, 1 - exp(-(dH0 * exp(lp) + dH_involuntary * exp(lp_involuntary))), only lp moved by the change, and
adds ``by_cause`` (each cause's cumulative incidence, exact on a daily grid) and
``accounts_kept_without_involuntary_churn`` (the voluntary hazard alone, the net figure).
5,000 accounts, seed 7, share 1/3: an involuntary baseline of 1.35% a month; 2,455 accounts churned (1,882 without
causes), 786 of them involuntary (32.0%) and 1,669 voluntary; the file gives 691 payment_failed, 76
payment_disputed, 1,606 feedback words and no reason for 82 churns (3.3%, unknown); 149,155 interactions and
56,136 mrr_history rows. Halving first response keeps 78.4 of 2,545 active accounts (ARR 1,232,217): 88.1 fewer
voluntary churns, 9.7 more involuntary ones, as the accounts kept stay at risk of a failed card; without
involuntary churn it would keep 95.3. lifelines on the build's panel, first response per doubling with each
cause its own event (the others censored): voluntary 1.26 (1.21-1.32); involuntary 0.90 (0.85-0.97), a seed whose
interval misses the true 1.0 (the tests read other seeds); all churn as one event 1.13 (1.09-1.18), the effect
diluted by a cause it does not move.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from . import churn_reasons
from .build import build_database
from .errors import RetentionError
from .input_files import file_fingerprint
from .sqlrun import arrow_of_file, execute_template, file_fragment, run_file
from .settings import DEFAULT_SLA_HOURS
from .settings import SEVERITIES as SETTINGS_SEVERITIES
from .settings import WINDOW_DAYS, BuildSettings

AS_OF = date(2026, 6, 30)
HISTORY_START = date(2023, 7, 1)
FILE_FORMATS = ("csv", "parquet")
DAY_SECONDS = 86_400
# No signup in the last week: every account has some time at risk before the as-of date.
LAST_SIGNUP_GAP_DAYS = 7
# Signup density rises linearly to (1 + growth) times its starting level: a growing business.
SIGNUP_GROWTH = 0.6

PLANS = ("Starter", "Growth", "Business", "Enterprise")
PLAN_MRR_MEDIAN = np.array([80.0, 400.0, 1900.0, 9000.0])
PLAN_MRR_SIGMA = 0.35
# Faster service on priority plans (log multiplier on response and resolution times).
PLAN_SERVICE_SHIFT = np.array([0.15, 0.0, -0.15, -0.35])
COMPANY_SIZES = ("1-10", "11-50", "51-200", "201-1000", "1000+")
COMPANY_SIZE_SHARE = np.array([0.34, 0.30, 0.20, 0.11, 0.05])
# P(plan | company size): rows are sizes, columns plans.
PLAN_GIVEN_SIZE = np.array(
    [
        [0.70, 0.25, 0.05, 0.00],
        [0.45, 0.40, 0.13, 0.02],
        [0.20, 0.45, 0.28, 0.07],
        [0.05, 0.30, 0.45, 0.20],
        [0.00, 0.10, 0.40, 0.50],
    ]
)
# Tickets per month at an average service level, by company size (before seasonality and the trap).
SIZE_TICKETS_PER_MONTH = np.array([0.8, 1.6, 3.0, 5.0, 8.0])
CONTACT_SCALE = 1.07
REGIONS = ("North America", "EMEA", "APAC", "LATAM")
REGION_SHARE = np.array([0.45, 0.30, 0.17, 0.08])
INDUSTRIES = ("Software", "Retail", "Healthcare", "Financial services", "Education", "Manufacturing", "Media")
INDUSTRY_SHARE = np.array([0.28, 0.15, 0.12, 0.13, 0.10, 0.12, 0.10])
# Customer success managers of each region (in REGIONS order): a scoped role can be tried on the demo.
CSMS_BY_REGION = (("Dana Ruiz", "Sam Patel"), ("Lea Martin", "Jonas Weber"), ("Mei Tanaka",), ("Lucas Silva",))
# Accounts that never open a ticket; a few more end up with none by chance (short or quiet lives).
NEVER_CONTACT_SHARE = 0.12

# Service latent traits: account level plus an AR(1) monthly drift (the within-account variation
# that makes the panel effects estimable), and a support-wide staffing swing shared by everyone.
SERVICE_LEVEL_SIGMA = 0.45
DRIFT_RHO = 0.75
SERVICE_DRIFT_SIGMA = 0.30
STAFFING_SIGMA = 0.10
REOPEN_BASE = 0.08
REOPEN_LOGIT_SIGMA = 0.6
REOPEN_DRIFT_SIGMA = 0.40
UPDATE_BASE = 0.40
UPDATE_LOGIT_SIGMA = 1.0
UPDATE_DRIFT_SIGMA = 0.50
# Product trouble (case mix): a latent per-account level plus an AR(1) monthly drift on the logit of the
# share of high and urgent tickets. Accounts in trouble file more high and urgent tickets, a little more
# of everything, and churn more (through the measured high-priority share); as a priority queue answers
# those tickets first, their median first response is faster: the confounder behind a naive model.
HIGH_PRIORITY_BASE = 0.15
TROUBLE_LEVEL_SIGMA = 0.6
TROUBLE_DRIFT_SIGMA = 0.5
TROUBLE_VOLUME = 0.2
# The ticket-volume trap: volume multiplier exp(a * log service level) * (1 + b * reopen propensity).
TRAP_SERVICE = 0.8
TRAP_REOPEN = 6.0

# Weekday weights Monday..Sunday and the yearly swing (peak in January).
WEEKDAY_WEIGHT = np.array([1.15, 1.10, 1.05, 1.00, 0.90, 0.35, 0.30])
YEARLY_AMPLITUDE = 0.12

# the build's severities, least urgent first: the order of the share and time arrays below
SEVERITIES = tuple(reversed(SETTINGS_SEVERITIES))
# Severity shares at no product trouble; trouble raises the high+urgent share (split 13:5 between them)
# and leaves low:normal at 32:50.
SEVERITY_SHARE = np.array([0.32, 0.50, 0.13, 0.05])
# the build's default first-response targets, in the same order: the demo's breaches are the build's
SLA_HOURS = np.array([DEFAULT_SLA_HOURS[severity] for severity in SEVERITIES])
FIRST_RESPONSE_MEDIAN_HOURS = np.array([9.0, 3.0, 1.5, 0.35])
FIRST_RESPONSE_SIGMA = 0.75
RESOLUTION_MEDIAN_HOURS = np.array([60.0, 30.0, 16.0, 6.0])
RESOLUTION_SIGMA = 0.9
CHANNELS = ("email", "chat", "phone", "web")
CHANNEL_SHARE = np.array([0.45, 0.25, 0.10, 0.20])
CHANNEL_RESPONSE_FACTOR = np.array([1.0, 0.35, 0.2, 1.1])
CSAT_RESPONSE_RATE = 0.40
CREDIT_SHARE_OF_BAD = 0.30
CREDIT_SHARE_OF_GOOD = 0.01
MAX_HOURS = 24.0 * 60  # a ticket open for two months is closed in the data as it would be by a desk

# Baseline monthly churn at the reference values: 2.5% at signup falling towards 1.6%.
BASELINE_MONTHLY_FLOOR = 0.016
BASELINE_MONTHLY_EXTRA = 0.009
BASELINE_DECAY_DAYS = 300.0
DAYS_PER_MONTH = 30.4375

FIRST_RESPONSE_REFERENCE_HOURS = 4.0
REOPEN_REFERENCE = 0.10
AGENT_UPDATE_REFERENCE = 0.40
HIGH_PRIORITY_REFERENCE = 0.20
# The planted change (the past support change `retention evaluate` is tested on): from its date every ticket of the
# region's accounts is answered this many times as fast, as new hires in one region would. Churn follows through the
# planted hazard alone; the change has no effect of its own.
@dataclass(frozen=True)
class PlantedChange:
    name: str
    region: str
    start: date
    first_response_factor: float

    @property
    def treated(self) -> str:
        """The filter that selects the accounts it reached, as `retention evaluate --treated` takes it."""
        return f"region={self.region}"


PLANTED_CHANGE = PlantedChange("EMEA support hires", "EMEA", date(2025, 7, 1), 0.5)
# The planted what-if: every ticket's first response halved, churn counted over the next year.
WHATIF_FIRST_RESPONSE_FACTOR = 0.5
WHATIF_HORIZON_DAYS = 365

# Revenue rules (documented in the module docstring and written to planted_effects.json).
EXPANSION = {"healthy_below_hazard_ratio": 0.9, "p_healthy": 0.35, "p_middle": 0.15, "middle_below_hazard_ratio": 1.5,
             "p_unhealthy": 0.03, "growth_min": 0.01, "growth_max": 0.02, "p_unhealthy_shrink": 0.05,
             "shrink_min": 0.03, "shrink_max": 0.08}
PRE_CHURN_CONTRACTION = {"months": 3, "probability": 0.8, "min": 0.05, "max": 0.15}

# Involuntary churn (planted only with involuntary_share > 0): a card that fails, a charge disputed. Its hazard is
# constant over tenure and no service measure moves it; its baseline is calibrated on the potential panel to the
# share asked for. Starter accounts pay by card where larger plans are invoiced, so their payments fail more.
INVOLUNTARY_STARTER_HAZARD_RATIO = 1.5
# The share `retention demo` (and so `make run`) plants unless told otherwise, so the app a newcomer opens splits
# churn by cause. generate_demo's own default plants none: the demo whose every churn has one cause, which the
# all-churn models' tests and the benchmarks read.
COMMAND_INVOLUNTARY_SHARE = 1 / 3
# The involuntary draws and every churn reason come from a stream of their own, default_rng([seed, CAUSES_STREAM]):
# the voluntary draws stay exactly those of the demo without causes.
CAUSES_STREAM = 1
# Stripe's cancellation feedback words (what a customer who cancels picks) with the demo's shares, drawn
# independently of the account: a voluntary churn's reason carries no planted signal.
VOLUNTARY_REASONS = ("too_expensive", "missing_features", "switched_service", "unused", "customer_service",
                     "too_complex", "low_quality", "other")
VOLUNTARY_REASON_SHARE = np.array([0.24, 0.15, 0.14, 0.16, 0.10, 0.06, 0.05, 0.10])
# Stripe's reasons for a subscription it ended itself: mostly a payment that failed, now and then a dispute.
INVOLUNTARY_REASONS = ("payment_failed", "payment_disputed")
INVOLUNTARY_REASON_SHARE = np.array([0.9, 0.1])
# Churns whose reason the billing tool never recorded, whatever the cause: the build counts them as unknown.
UNRECORDED_REASON_SHARE = 0.03


@dataclass(frozen=True)
class PlantedEffect:
    factor: str
    term: str
    pillar: str
    unit: str
    hazard_ratio: float
    note: str


PLANTED_EFFECTS = (
    PlantedEffect("first_response_hours", "per doubling", "quick", "per doubling of the median first response time",
                  1.25, "panel column first_response_hours_median; reference 4 hours; "
                  "medians under a minute count as one minute"),
    PlantedEffect("reopen_rate", "per +10 pp", "complete resolution", "per +10 percentage points", 1.15,
                  "reference 10%"),
    PlantedEffect("agent_update_rate", "per +10 pp", "keep me informed", "per +10 percentage points", 0.93,
                  "proactive updates protect; reference 40%"),
    PlantedEffect("bad_interactions_90d", "1 vs 0", "pattern", "one bad interaction in 90 days vs none", 1.0,
                  "a single bad interaction is forgiven"),
    PlantedEffect("bad_interactions_90d", "2+ vs 0", "pattern", "two or more bad interactions in 90 days vs none",
                  2.2, "a pattern loses the account"),
    PlantedEffect("credited_bad_interactions_90d", "any credited bad interaction", "pattern",
                  "at least one bad interaction answered with a credit vs none", 0.7,
                  "a goodwill credit after a bad interaction softens it"),
    PlantedEffect("high_priority_share_90d", "per +10 pp", "case mix", "per +10 percentage points of high and urgent "
                  "tickets", 1.2, "reference 20%; accounts in product trouble file more high and urgent tickets, "
                  "which a priority queue answers faster: the confounder of the time-based measures"),
    PlantedEffect("tickets_90d", "per doubling", "control", "per doubling of (1 + tickets)", 1.0,
                  "a true null: unhappy accounts file more tickets, so volume correlates with the harmful factors"),
    PlantedEffect("plan", "plan=Starter", "segment", "vs any other plan", 1.8, "the other plans are equal"),
    PlantedEffect("sla_breach_rate", "per +10 pp", "quick", "per +10 percentage points", 1.0,
                  "no direct effect beyond the median first response time"),
    PlantedEffect("resolution_hours", "per doubling", "quick", "per doubling of the median resolution time", 1.0,
                  "no direct effect; correlated with first response through the service level"),
    PlantedEffect("csat", "per +1 point", "outcome", "per +1 point of mean CSAT", 1.0,
                  "no direct effect; CSAT reflects response time and reopens"),
    PlantedEffect("handoff_rate", "per +10 pp", "complete resolution", "per +10 percentage points", 1.0,
                  "no direct effect beyond 2+ handoffs making an interaction bad"),
    PlantedEffect("escalation_rate", "per +10 pp", "complete resolution", "per +10 percentage points", 1.0,
                  "no direct effect"),
    PlantedEffect("repeat_contact_rate", "per +10 pp", "complete resolution", "per +10 percentage points", 1.0,
                  "no direct effect"),
)


class DemoError(RetentionError, ValueError):
    """The demo cannot be generated with the options given."""


@dataclass(frozen=True)
class DemoResult:
    out_dir: Path
    accounts: Path
    interactions: Path
    mrr_history: Path
    planted_effects: Path
    events: Path
    n_accounts: int
    n_interactions: int
    n_mrr_rows: int
    n_churned: int
    as_of: date


@dataclass(frozen=True)
class PlantedCauses:
    """Involuntary churn planted beside the voluntary one, as competing risks: per account arrays."""

    share: float  # the involuntary share of churn asked for
    daily_hazard: float  # the involuntary baseline hazard per day (plan=Starter multiplies it)
    churn_day: np.ndarray  # days after signup of the earlier of the two churns; -1 still a customer
    involuntary: np.ndarray  # the churn was involuntary (False for a customer)
    reason: np.ndarray  # the churn reason as the accounts file gives it; None for a customer or a reason not recorded


def generate_demo(
    out_dir: Path,
    n_accounts: int = 5000,
    seed: int = 7,
    file_format: str = "csv",
    progress: Callable[[str], None] | None = None,
    involuntary_share: float = 0.0,
) -> DemoResult:
    """Write the demo files to `out_dir` (created if needed; same seed and size, same bytes). With
    `involuntary_share` > 0 about that share of churn is involuntary (failed payments, a competing risk no service
    measure moves) and the accounts file gives each churn's reason; 0 plants none."""
    _check_demo_arguments(n_accounts, seed, file_format, involuntary_share)
    report = progress or (lambda message: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    accounts = _draw_accounts(rng, int(n_accounts))
    report(f"accounts: {n_accounts:,} drawn")
    tickets = _draw_interactions(rng, accounts, report)
    report(f"interactions: {len(tickets['account']):,} potential tickets (as if nobody churned)")

    work_dir = Path(tempfile.mkdtemp(prefix=".demo-potential-", dir=out_dir))
    con = duckdb.connect()
    try:
        run_file(con, "queries", "set_utc_time_zone")
        panel = _potential_panel(con, work_dir, accounts, tickets, report)
        log_hr = panel_log_hazard_ratio(panel)
        churn_day, churn_tenure = _draw_churn_times(rng, panel, log_hr, len(accounts["signup_day"]),
                                                    baseline_cumulative_hazard)
        causes = None
        if involuntary_share > 0:
            causes = _plant_involuntary_churn(np.random.default_rng([int(seed), CAUSES_STREAM]), panel, log_hr,
                                              churn_day, churn_tenure, float(involuntary_share))
            churn_day = causes.churn_day
            report(f"churn causes: {int(causes.involuntary.sum()):,} of the churns involuntary (failed payments)")
        report(f"churn: {int((churn_day >= 0).sum()):,} accounts churned by {AS_OF}")
        history = _mrr_history(rng, accounts, panel, log_hr, churn_day,
                               contracts=None if causes is None else ~causes.involuntary)
        totals = composite_total_effects(panel, churn_day)
        latest = latest_active_rows(panel, log_hr, churn_day)
        report(f"building the {PLANTED_CHANGE.region} accounts' months since {PLANTED_CHANGE.start} without the "
               "planted change (its true effect)")
        change = planted_change_truth(con, work_dir, accounts, tickets, panel, log_hr, churn_day,
                                      12.0 * history["last_mrr"], report)
        del panel, log_hr
        tickets = _drop_after_churn(tickets, accounts, churn_day)
        report("building the active accounts' latest month with every first response halved (the true what-if)")
        changed = rebuilt_latest_rows(con, work_dir, accounts, tickets, latest["account"],
                                      WHATIF_FIRST_RESPONSE_FACTOR, report)
        whatif = true_whatif(latest, panel_log_hazard_ratio(changed), 12.0 * history["last_mrr"][latest["account"]],
                             involuntary_daily_hazard=0.0 if causes is None else causes.daily_hazard)
        report(f"true what-if: halving first response keeps {whatif['accounts_kept']:.1f} of "
               f"{whatif['active_accounts']:,} active accounts over {WHATIF_HORIZON_DAYS} days")

        paths = {name: out_dir / f"{name}.{file_format}" for name in ("accounts", "interactions", "mrr_history")}
        _write_accounts(con, paths["accounts"], file_format, accounts, churn_day, history["last_mrr"],
                        churn_reason=None if causes is None else causes.reason)
        n_interactions = _write_interactions(con, paths["interactions"], file_format, tickets, len(churn_day))
        n_mrr_rows = _write_mrr_history(con, paths["mrr_history"], file_format, history, len(churn_day))
        report(f"wrote {n_interactions:,} interactions and {n_mrr_rows:,} monthly MRR rows to {out_dir}")
    finally:
        con.close()
        shutil.rmtree(work_dir, ignore_errors=True)

    counts = {
        "accounts": int(n_accounts),
        "churned": int((churn_day >= 0).sum()),
        "interactions": n_interactions,
        "mrr_history_rows": n_mrr_rows,
        "accounts_never_contacting": int(np.count_nonzero(np.bincount(tickets["account"], minlength=n_accounts) == 0)),
    }
    causes_document = None if causes is None else planted_causes_document(causes)
    return _demo_result(out_dir, paths, seed, counts, whatif, totals, causes_document, change)


def _check_demo_arguments(n_accounts, seed, file_format: str, involuntary_share) -> None:
    if file_format not in FILE_FORMATS:
        raise DemoError(f"file format {file_format!r} is not supported; use csv or parquet")
    if isinstance(n_accounts, bool) or not isinstance(n_accounts, (int, np.integer)) or n_accounts < 1:
        raise DemoError(f"the number of accounts must be a whole number >= 1, got {n_accounts!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DemoError(f"the seed must be a whole number >= 0, got {seed!r}")
    if (isinstance(involuntary_share, bool) or not isinstance(involuntary_share, (int, float, np.integer, np.floating))
            or not 0 <= involuntary_share < 1):
        # all churn involuntary would leave the voluntary hazard, which the demo is about, nothing to show
        raise DemoError(f"the involuntary share of churn must be a number from 0 up to (not including) 1, e.g. 0.3, "
                        f"got {involuntary_share!r}")


def _demo_result(out_dir: Path, paths: dict[str, Path], seed: int, counts: dict, whatif: dict,
                 totals: dict, causes: dict | None, change: dict) -> DemoResult:
    """Write planted_effects.json beside the files; what the demo made."""
    effects_path = out_dir / "planted_effects.json"
    document = _planted_effects_document(seed, counts, whatif, totals, causes)
    document["planted_change"] = change
    # the files these truths are about: a build of edited copies must not claim them
    document["files"] = {source: {"name": path.name, "sha256": file_fingerprint(path)} for source, path in paths.items()}
    effects_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    events_path = out_dir / "events.csv"
    with events_path.open("w", newline="", encoding="utf-8") as events:
        writer = csv.writer(events, lineterminator="\n")
        writer.writerow(["name", "date", "treated"])
        writer.writerow([PLANTED_CHANGE.name, PLANTED_CHANGE.start.isoformat(), PLANTED_CHANGE.treated])
    return DemoResult(
        out_dir=out_dir,
        accounts=paths["accounts"],
        interactions=paths["interactions"],
        mrr_history=paths["mrr_history"],
        planted_effects=effects_path,
        events=events_path,
        n_accounts=counts["accounts"],
        n_interactions=counts["interactions"],
        n_mrr_rows=counts["mrr_history_rows"],
        n_churned=counts["churned"],
        as_of=AS_OF,
    )


# ---------------------------------------------------------------------------------------------------
# accounts and tickets


def _day(d: date) -> int:
    """Days since 1970-01-01."""
    return (d - date(1970, 1, 1)).days


def _categorical(rng: np.random.Generator, shares: np.ndarray, size: int) -> np.ndarray:
    return np.searchsorted(np.cumsum(shares) / shares.sum(), rng.random(size), side="right").astype(np.int8)


def _draw_accounts(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    first, last = _day(HISTORY_START), _day(AS_OF) - LAST_SIGNUP_GAP_DAYS
    g = SIGNUP_GROWTH
    # inverse CDF of a density rising linearly from 1 to 1 + g over [0, 1]
    x = (np.sqrt(1.0 + rng.random(n) * g * (2.0 + g)) - 1.0) / g
    signup_day = np.sort(first + np.floor(x * (last - first + 1)).astype(np.int32))
    size = _categorical(rng, COMPANY_SIZE_SHARE, n)
    plan_cdf = np.cumsum(PLAN_GIVEN_SIZE, axis=1)[size]
    plan = (rng.random(n)[:, None] >= plan_cdf[:, :-1]).sum(axis=1).astype(np.int8)
    mrr0 = np.round(PLAN_MRR_MEDIAN[plan] * np.exp(rng.normal(0.0, PLAN_MRR_SIGMA, n)), 2)
    return {
        "signup_day": signup_day,
        "size": size,
        "plan": plan,
        "region": _categorical(rng, REGION_SHARE, n),
        "industry": _categorical(rng, INDUSTRY_SHARE, n),
        "mrr0": mrr0,
        "service_level": (PLAN_SERVICE_SHIFT[plan] + rng.normal(0.0, SERVICE_LEVEL_SIGMA, n)).astype(np.float32),
        "reopen_logit": (_logit(REOPEN_BASE) + rng.normal(0.0, REOPEN_LOGIT_SIGMA, n)).astype(np.float32),
        "update_logit": (_logit(UPDATE_BASE) + rng.normal(0.0, UPDATE_LOGIT_SIGMA, n)).astype(np.float32),
        "never_contact": rng.random(n) < NEVER_CONTACT_SHARE,
    }


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _draw_interactions(
    rng: np.random.Generator, accounts: dict, report: Callable[[str], None]
) -> dict[str, np.ndarray]:
    """Potential tickets from signup to as-of, one calendar month at a time, in order of creation."""
    n = len(accounts["signup_day"])
    as_of_end_day = _day(AS_OF) + 1
    months = np.arange(np.datetime64(HISTORY_START, "M"), np.datetime64(AS_OF, "M") + 1)
    service_drift = np.zeros(n, np.float32)
    reopen_drift = np.zeros(n, np.float32)
    update_drift = np.zeros(n, np.float32)
    trouble_level = rng.normal(0.0, TROUBLE_LEVEL_SIGMA, n).astype(np.float32)
    trouble_drift = np.zeros(n, np.float32)
    staffing = 0.0
    chunks: list[dict[str, np.ndarray]] = []
    for month in months:
        month_day = int(month.astype("datetime64[D]").astype(np.int64))
        next_day = int((month + 1).astype("datetime64[D]").astype(np.int64))
        end_day = min(next_day, as_of_end_day)
        service_drift = DRIFT_RHO * service_drift + rng.normal(0.0, SERVICE_DRIFT_SIGMA, n).astype(np.float32)
        reopen_drift = DRIFT_RHO * reopen_drift + rng.normal(0.0, REOPEN_DRIFT_SIGMA, n).astype(np.float32)
        update_drift = DRIFT_RHO * update_drift + rng.normal(0.0, UPDATE_DRIFT_SIGMA, n).astype(np.float32)
        trouble_drift = DRIFT_RHO * trouble_drift + rng.normal(0.0, TROUBLE_DRIFT_SIGMA, n).astype(np.float32)
        staffing = DRIFT_RHO * staffing + rng.normal(0.0, STAFFING_SIGMA)

        active = np.flatnonzero((accounts["signup_day"] < end_day) & ~accounts["never_contact"])
        first_day = np.maximum(accounts["signup_day"][active], month_day)
        n_days = end_day - first_day
        log_service = accounts["service_level"][active] + service_drift[active] + np.float32(staffing)
        p_reopen = _expit(accounts["reopen_logit"][active] + reopen_drift[active])
        p_update = _expit(accounts["update_logit"][active] + update_drift[active])
        trouble = trouble_level[active] + trouble_drift[active]
        month_of_year = int(str(month)[5:7])
        season = 1.0 + YEARLY_AMPLITUDE * math.cos(2.0 * math.pi * (month_of_year - 1) / 12.0)
        trap = np.exp(TRAP_SERVICE * log_service) * (1.0 + TRAP_REOPEN * p_reopen) / (1.0 + TRAP_REOPEN * REOPEN_BASE)
        expected = (SIZE_TICKETS_PER_MONTH[accounts["size"][active]] * CONTACT_SCALE * season
                    * (n_days / (next_day - month_day)) * trap * np.exp(TROUBLE_VOLUME * trouble))
        counts = rng.poisson(expected)
        which = np.repeat(np.arange(active.size), counts)
        day = _draw_days(rng, first_day[which], n_days[which])
        created = day.astype(np.int64) * DAY_SECONDS + _draw_time_of_day(rng, which.size)
        order = np.argsort(created, kind="stable")
        which, created = which[order], created[order]
        chunk = _draw_ticket_details(
            rng,
            log_service=log_service[which],
            p_reopen=p_reopen[which],
            p_update=p_update[which],
            trouble=trouble[which],
            mrr0=accounts["mrr0"][active[which]],
            created=created,
            as_of_end=as_of_end_day * DAY_SECONDS,
        )
        _plant_the_change(chunk, (accounts["region"][active[which]] == REGIONS.index(PLANTED_CHANGE.region))
                          & (created >= _day(PLANTED_CHANGE.start) * DAY_SECONDS))
        chunk["account"] = active[which].astype(np.int32)
        chunk["created"] = created
        chunks.append(chunk)
        report(f"interactions: {month.astype(str)} {which.size:,} tickets")
    return {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}


def _draw_days(rng: np.random.Generator, first_day: np.ndarray, n_days: np.ndarray) -> np.ndarray:
    """A day in [first_day, first_day + n_days), weighted by weekday (rejection sampling)."""
    accept = WEEKDAY_WEIGHT / WEEKDAY_WEIGHT.max()
    day = first_day + np.floor(rng.random(first_day.size) * n_days).astype(np.int64)
    pending = np.flatnonzero(rng.random(day.size) >= accept[(day + 3) % 7])  # 1970-01-01 was a Thursday
    # a window made only of weekend days would loop for ever; after 30 rounds the last draw stands
    for _ in range(30):
        if pending.size == 0:
            break
        day[pending] = first_day[pending] + np.floor(rng.random(pending.size) * n_days[pending]).astype(np.int64)
        pending = pending[rng.random(pending.size) >= accept[(day[pending] + 3) % 7]]
    return day


def _draw_time_of_day(rng: np.random.Generator, size: int) -> np.ndarray:
    """Seconds after midnight UTC: mostly business hours around 14:30, a quarter spread evenly."""
    business = np.mod(rng.normal(14.5 * 3600, 3.0 * 3600, size), DAY_SECONDS)
    anytime = rng.random(size) * DAY_SECONDS
    return np.where(rng.random(size) < 0.75, business, anytime).astype(np.int64)


def _draw_ticket_details(
    rng: np.random.Generator,
    log_service: np.ndarray,
    p_reopen: np.ndarray,
    p_update: np.ndarray,
    trouble: np.ndarray,
    mrr0: np.ndarray,
    created: np.ndarray,
    as_of_end: int,
) -> dict[str, np.ndarray]:
    k = created.size
    high_priority = rng.random(k) < _expit(_logit(HIGH_PRIORITY_BASE) + trouble.astype(np.float64))
    severity = np.where(high_priority, 2 + _categorical(rng, SEVERITY_SHARE[2:], k),
                        _categorical(rng, SEVERITY_SHARE[:2], k)).astype(np.int8)
    channel = _categorical(rng, CHANNEL_SHARE, k)
    service = np.exp(log_service.astype(np.float64))
    first_response_hours = np.minimum(
        FIRST_RESPONSE_MEDIAN_HOURS[severity] * CHANNEL_RESPONSE_FACTOR[channel] * service
        * np.exp(rng.normal(0.0, FIRST_RESPONSE_SIGMA, k)),
        MAX_HOURS,
    )
    resolution_hours = np.minimum(
        first_response_hours
        + RESOLUTION_MEDIAN_HOURS[severity] * service**0.7 * np.exp(rng.normal(0.0, RESOLUTION_SIGMA, k)),
        MAX_HOURS,
    )
    reopened = rng.random(k) < p_reopen
    reopens = reopened * (1 + rng.poisson(0.25, k))
    urgent_or_high = severity >= 2
    handoffs = rng.poisson(0.25 + 0.35 * urgent_or_high + 0.3 * reopened)
    escalated = rng.random(k) < 0.02 + 0.05 * (severity == 2) + 0.10 * (severity == 3) + 0.06 * reopened
    has_update = rng.random(k) < p_update
    agent_updates = has_update * (1 + rng.poisson(0.5 * np.minimum(resolution_hours / 24.0, 10.0)))

    response_vs_sla = np.clip(np.log2(first_response_hours / SLA_HOURS[severity]), -2.0, 4.0)
    satisfaction = (4.3 - 0.35 * response_vs_sla - 1.1 * reopened - 0.5 * (handoffs >= 2) + 0.25 * has_update
                    - 0.15 * np.log2(1.0 + resolution_hours / 24.0) + rng.normal(0.0, 0.8, k))
    csat = np.clip(np.rint(satisfaction), 1, 5).astype(np.int8)
    rated = rng.random(k) < CSAT_RESPONSE_RATE

    first_response_s = np.rint(first_response_hours * 3600).astype(np.int64)
    resolution_s = np.maximum(np.rint(resolution_hours * 3600).astype(np.int64), first_response_s)
    responded = created + first_response_s < as_of_end
    resolved = created + resolution_s < as_of_end
    # outcomes known only at resolution are absent while the ticket is still open at the as-of date
    csat = np.where(rated & resolved, csat, 0).astype(np.int8)
    reopens = np.where(resolved, reopens, 0)
    bad = (first_response_hours > SLA_HOURS[severity]) | (reopens > 0) | ((csat >= 1) & (csat <= 2)) | (handoffs >= 2)
    credited = resolved & (rng.random(k) < np.where(bad, CREDIT_SHARE_OF_BAD, CREDIT_SHARE_OF_GOOD))
    credit = np.where(credited, np.maximum(np.round(mrr0 * rng.uniform(0.05, 0.25, k), 2), 5.0), 0.0)
    return {
        "first_response_s": np.where(responded, first_response_s, -1).astype(np.int32),
        "resolution_s": np.where(resolved, resolution_s, -1).astype(np.int32),
        "severity": severity,
        "channel": channel,
        "csat": csat,
        "reopens": reopens.astype(np.int16),
        "handoffs": handoffs.astype(np.int16),
        "escalated": escalated,
        "agent_updates": agent_updates.astype(np.int16),
        "credit": credit.astype(np.float64),
    }


def _plant_the_change(chunk: dict, reached: np.ndarray) -> None:
    """The planted change, applied to tickets already drawn: the `reached` tickets answered
    PLANTED_CHANGE.first_response_factor times as long after they were opened, resolved as much sooner; the rest of
    each ticket (CSAT, updates) as drawn, and a ticket unanswered at the as-of date left so. Applied after the draw
    (not inside it) so that every random number, and so every other account and month, is the demo's without it."""
    first, resolution = chunk["first_response_s"], chunk["resolution_s"]
    sped_up = reached & (first >= 0)
    faster = np.where(sped_up, np.rint(first * PLANTED_CHANGE.first_response_factor), first).astype(np.int32)
    chunk["resolution_s"] = np.where(sped_up & (resolution >= 0), resolution - (first - faster),
                                     resolution).astype(np.int32)
    chunk["first_response_s"] = faster


def _drop_after_churn(tickets: dict, accounts: dict, churn_day: np.ndarray) -> dict:
    """Keep tickets created on or before the account's churn date."""
    churned = churn_day[tickets["account"]]
    last_day = np.where(churned >= 0, accounts["signup_day"][tickets["account"]] + churned, np.iinfo(np.int32).max)
    keep = tickets["created"] // DAY_SECONDS <= last_day
    return {key: values[keep] for key, values in tickets.items()}


# ---------------------------------------------------------------------------------------------------
# churn drawn from the build's panel


def _potential_panel(con, work_dir: Path, accounts: dict, tickets: dict, report: Callable[[str], None]) -> dict:
    """Build the potential data with the real build and read its survival panel as arrays."""
    n = len(accounts["signup_day"])
    report("building the potential panel (the churn draw uses the build's own measures)")
    db_path = _build_without_churn(con, work_dir, "potential", accounts, tickets, report)
    panel = _read_panel(db_path, latest_only=False)
    found = np.unique(panel["account"]).size
    if found != n:
        raise RuntimeError(f"the potential panel holds {found:,} of {n:,} demo accounts; the build dropped some")
    return panel


def _build_without_churn(con, work_dir: Path, name: str, accounts: dict, tickets: dict,
                         report: Callable[[str], None]) -> Path:
    """Write `accounts` (none churned) and `tickets` as Parquet and run the real build's data stages on them: the
    demo reads its panel alone, and with nobody churned the models would have nothing to fit but the forecast."""
    n = len(accounts["signup_day"])
    accounts_path = work_dir / f"{name}_accounts.parquet"
    interactions_path = work_dir / f"{name}_interactions.parquet"
    _write_accounts(con, accounts_path, "parquet", accounts, np.full(n, -1, np.int32), accounts["mrr0"])
    _write_interactions(con, interactions_path, "parquet", tickets, n)
    db_path = work_dir / f"{name}.duckdb"
    build_database(
        accounts=accounts_path,
        interactions=interactions_path,
        mrr_history=None,
        db_path=db_path,
        settings=BuildSettings(as_of=AS_OF, fit_models=False),
        progress=lambda event: report(
            f"{name} build: {event.stage} {event.table} {event.rows:,} rows in {event.seconds:.1f} s"),
    )
    return db_path


def _read_panel(db_path: Path, latest_only: bool) -> dict:
    """The panel columns the planted hazard reads, as arrays ordered by account and start day; with
    `latest_only`, each account's row of the as-of month."""
    with duckdb.connect(str(db_path), read_only=True) as panel_con:
        table = arrow_of_file(panel_con, "demo", "planted_hazard_panel",
                              {"history_start": HISTORY_START, "latest_only": latest_only, "as_of": AS_OF})
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}


def panel_log_hazard_ratio(panel: dict) -> np.ndarray:
    """The planted log hazard ratio of each panel row (a NULL measure contributes 0)."""
    hr = {(e.factor, e.term): e.hazard_ratio for e in PLANTED_EFFECTS}

    def per_unit(measure: np.ndarray, transform: Callable[[np.ndarray], np.ndarray], factor: str, term: str):
        value = transform(np.asarray(measure, dtype=np.float64))
        return np.where(np.isnan(value), 0.0, value * math.log(hr[(factor, term)]))

    lp = np.where(panel["is_starter"].astype(bool), math.log(hr[("plan", "plan=Starter")]), 0.0)
    # a median of zero (instant phone pickups) has no logarithm: medians under a minute count as one minute
    lp += per_unit(panel["first_response_hours_median"],
                   lambda v: np.log2(np.maximum(v, 1.0 / 60) / FIRST_RESPONSE_REFERENCE_HOURS),
                   "first_response_hours", "per doubling")
    lp += per_unit(panel["reopen_rate"], lambda v: (v - REOPEN_REFERENCE) / 0.10, "reopen_rate", "per +10 pp")
    lp += per_unit(panel["agent_update_rate"], lambda v: (v - AGENT_UPDATE_REFERENCE) / 0.10,
                   "agent_update_rate", "per +10 pp")
    lp += per_unit(panel["high_priority_share_90d"], lambda v: (v - HIGH_PRIORITY_REFERENCE) / 0.10,
                   "high_priority_share_90d", "per +10 pp")
    lp += per_unit(panel["tickets_90d"], lambda v: np.log2(1.0 + v), "tickets_90d", "per doubling")
    bad = np.asarray(panel["bad_interactions_90d"], dtype=np.float64)
    lp += np.where(bad == 1, math.log(hr[("bad_interactions_90d", "1 vs 0")]), 0.0)
    lp += np.where(bad >= 2, math.log(hr[("bad_interactions_90d", "2+ vs 0")]), 0.0)
    credited = np.asarray(panel["credited_bad_interactions_90d"], dtype=np.float64)
    lp += np.where(credited >= 1, math.log(hr[("credited_bad_interactions_90d", "any credited bad interaction")]), 0.0)
    return lp


def baseline_cumulative_hazard(max_day: int) -> np.ndarray:
    """H0 at whole days of tenure 0..max_day; the baseline hazard is constant within each day."""
    tenure = np.arange(max_day, dtype=np.float64)
    monthly = BASELINE_MONTHLY_FLOOR + BASELINE_MONTHLY_EXTRA * np.exp(-tenure / BASELINE_DECAY_DAYS)
    return np.concatenate([[0.0], np.cumsum(monthly / DAYS_PER_MONTH)])


def _draw_churn(rng: np.random.Generator, panel: dict, log_hr: np.ndarray, n: int) -> np.ndarray:
    """Churn day (days after signup) per account at the planted hazard, -1 when still a customer at the as-of date."""
    return _draw_churn_times(rng, panel, log_hr, n, baseline_cumulative_hazard)[0]


def _draw_churn_times(rng: np.random.Generator, panel: dict, log_hr: np.ndarray, n: int,
                      cumulative_hazard: Callable[[int], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Churn day (days after signup) per account, -1 when still a customer at the as-of date, and the churn's exact
    tenure in days (NaN for a customer), at the hazard `cumulative_hazard(max_day)` (H0 at whole days 0..max_day)
    times exp(log_hr) of each row.

    Each row draws an exponential time at its own constant-relative hazard; by memorylessness the
    first row whose draw falls inside it is where the account churns, which is the same as drawing
    month by month."""
    start, stop = panel["start_day"], panel["stop_day"]
    h0 = cumulative_hazard(int(stop.max()) + 1)
    days = np.arange(h0.size, dtype=np.float64)
    target = h0[start] + rng.exponential(1.0, start.size) * np.exp(-log_hr)
    inside = target < h0[stop]
    tenure = np.interp(np.where(inside, target, 0.0), h0, days)
    churn = np.floor(tenure).astype(np.int64)
    # a churn on the row's first day would leave it no length: push it a day when the row allows
    churn = np.where(churn <= start, start + 1, churn)
    inside &= churn < stop
    rows = np.flatnonzero(inside)
    accounts, first = np.unique(panel["account"][rows], return_index=True)
    churn_day = np.full(n, -1, np.int32)
    churn_day[accounts] = churn[rows[first]]
    churn_tenure = np.full(n, np.nan)
    churn_tenure[accounts] = tenure[rows[first]]
    return churn_day, churn_tenure


def involuntary_log_hazard_ratio(is_starter: np.ndarray) -> np.ndarray:
    """The planted log hazard ratio of involuntary churn: plan alone, no service measure."""
    return np.where(np.asarray(is_starter).astype(bool), math.log(INVOLUNTARY_STARTER_HAZARD_RATIO), 0.0)


def involuntary_daily_hazard(panel: dict, log_hr: np.ndarray, share: float) -> float:
    """The involuntary baseline hazard per day at which `share` of the churn expected by the as-of date is
    involuntary, beside the planted voluntary hazard, over the potential panel (every account to the as-of date).

    Each row's expected churn (the chance to reach it times the chance to churn in it) is split between the
    causes in proportion to their hazards in the row: exact where both are constant within it, and close here
    (the voluntary baseline drifts slowly within a month). The share grows with the hazard, so a bisection finds
    it."""
    start, stop, account = panel["start_day"], panel["stop_day"], panel["account"]
    h0 = baseline_cumulative_hazard(int(stop.max()) + 1)
    voluntary = (h0[stop] - h0[start]) * np.exp(log_hr)
    exposure = (stop - start) * np.exp(involuntary_log_hazard_ratio(panel["is_starter"]))
    first = np.flatnonzero(np.r_[True, account[1:] != account[:-1]])
    lengths = np.diff(np.r_[first, account.size])

    def share_at(daily: float) -> float:
        involuntary = daily * exposure
        total = voluntary + involuntary
        before = np.cumsum(total) - total
        before -= np.repeat(before[first], lengths)
        churn = np.exp(-before) * -np.expm1(-total)
        return float((churn * involuntary / total).sum() / churn.sum())

    low, high = 0.0, BASELINE_MONTHLY_FLOOR / DAYS_PER_MONTH
    while share_at(high) < share:
        low, high = high, 2.0 * high
    for _ in range(60):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if share_at(middle) < share else (low, middle)
    return 0.5 * (low + high)


def _plant_involuntary_churn(rng: np.random.Generator, panel: dict, log_hr: np.ndarray, voluntary_day: np.ndarray,
                             voluntary_tenure: np.ndarray, share: float) -> PlantedCauses:
    """Draw each account's involuntary churn from its own hazard (`rng`: the causes' stream), keep the earlier of
    the two churns, and give every churn its reason."""
    n = voluntary_day.size
    daily = involuntary_daily_hazard(panel, log_hr, share)
    involuntary_day, involuntary_tenure = _draw_churn_times(
        rng, panel, involuntary_log_hazard_ratio(panel["is_starter"]), n,
        lambda max_day: daily * np.arange(max_day + 1, dtype=np.float64))
    # competing risks: the churn observed is the earlier one, by exact tenure (a same-day pair is no tie); the
    # later one is never seen
    involuntary = (involuntary_day >= 0) & ((voluntary_day < 0) | (involuntary_tenure < voluntary_tenure))
    churn_day = np.where(involuntary, involuntary_day, voluntary_day).astype(np.int32)
    voluntary_reason = np.array(VOLUNTARY_REASONS, dtype=object)[_categorical(rng, VOLUNTARY_REASON_SHARE, n)]
    involuntary_reason = np.array(INVOLUNTARY_REASONS, dtype=object)[_categorical(rng, INVOLUNTARY_REASON_SHARE, n)]
    recorded = rng.random(n) >= UNRECORDED_REASON_SHARE
    reason = np.full(n, None, dtype=object)
    given = (churn_day >= 0) & recorded
    reason[given] = np.where(involuntary, involuntary_reason, voluntary_reason)[given]
    return PlantedCauses(share=share, daily_hazard=daily, churn_day=churn_day, involuntary=involuntary,
                         reason=reason)


def _mrr_history(rng: np.random.Generator, accounts: dict, panel: dict, log_hr: np.ndarray,
                 churn_day: np.ndarray, contracts: np.ndarray | None = None) -> dict:
    """Monthly MRR per account from signup month to churn (or as-of) month: expansion while healthy,
    contraction in the three months up to churn (only for the accounts `contracts` marks, when given)."""
    account = panel["account"]
    churn = churn_day[account]
    keep = (churn < 0) | (panel["start_day"] < churn)
    account, month, log_hr = account[keep], panel["month"][keep], log_hr[keep]
    churn = churn[keep]
    k = account.size
    hazard_ratio = np.exp(log_hr)
    e = EXPANSION
    p_grow = np.where(hazard_ratio < e["healthy_below_hazard_ratio"], e["p_healthy"],
                      np.where(hazard_ratio < e["middle_below_hazard_ratio"], e["p_middle"], e["p_unhealthy"]))
    u = rng.random(k)
    factor = np.where(u < p_grow, 1.0 + rng.uniform(e["growth_min"], e["growth_max"], k), 1.0)
    shrink = (hazard_ratio >= e["middle_below_hazard_ratio"]) & (u > 1.0 - e["p_unhealthy_shrink"])
    factor = np.where(shrink, 1.0 - rng.uniform(e["shrink_min"], e["shrink_max"], k), factor)

    churn_month = np.full(churn_day.size, -1, np.int64)
    churned = np.flatnonzero(churn_day >= 0)
    churn_date = (accounts["signup_day"][churned] + churn_day[churned]).astype("datetime64[D]")
    churn_month[churned] = (churn_date.astype("datetime64[M]") - np.datetime64(HISTORY_START, "M")).astype(np.int64)
    months_to_churn = churn_month[account] - month
    c = PRE_CHURN_CONTRACTION
    contracting = (churn >= 0) & (months_to_churn < c["months"]) & (rng.random(k) < c["probability"])
    if contracts is not None:
        # a failed payment ends the account without the downgrades that come before a customer's own decision
        contracting &= contracts[account]
    factor = np.where(contracting, 1.0 - rng.uniform(c["min"], c["max"], k), factor)

    first_row = np.r_[True, account[1:] != account[:-1]]
    factor[first_row] = 1.0  # the signup month is billed at the starting MRR
    log_cum = np.cumsum(np.log(factor))
    starts = np.flatnonzero(first_row)
    log_cum -= np.repeat(log_cum[starts], np.diff(np.r_[starts, k]))
    mrr = np.round(accounts["mrr0"][account] * np.exp(log_cum), 2)
    last_mrr = np.empty(churn_day.size)
    last_mrr[account[np.r_[starts[1:] - 1, k - 1]]] = mrr[np.r_[starts[1:] - 1, k - 1]]
    return {"account": account.astype(np.int32), "month": month.astype(np.int32), "mrr": mrr, "last_mrr": last_mrr}


# ---------------------------------------------------------------------------------------------------
# the true what-if, from the generator's own hazards


def composite_total_effects(panel: dict, churn_day: np.ndarray) -> dict[tuple[str, str], dict]:
    """The total effect of one and of two or more bad interactions: the planted ratio, which holds goodwill credits
    at none, times the average softening of the credits that follow them in these data (a credit answers about
    30% of bad interactions). A bad interaction's own model leaves credits free, as a consequence, so this is what
    it estimates. Averaged over the account-months at risk of churn, as a Cox model weighs them."""
    hr = {(e.factor, e.term): e.hazard_ratio for e in PLANTED_EFFECTS}
    credit = hr[("credited_bad_interactions_90d", "any credited bad interaction")]
    churn = churn_day[panel["account"]]
    at_risk = (churn < 0) | (panel["start_day"] < churn)
    bad = np.asarray(panel["bad_interactions_90d"], dtype=np.float64)[at_risk]
    credited = np.asarray(panel["credited_bad_interactions_90d"], dtype=np.float64)[at_risk] >= 1
    softening = np.where(credited, credit, 1.0)
    totals = {}
    for term, rows in (("1 vs 0", bad == 1), ("2+ vs 0", bad >= 2)):
        if rows.any():
            totals[("bad_interactions_90d", term)] = {
                "total_hazard_ratio": round(hr[("bad_interactions_90d", term)] * float(softening[rows].mean()), 4),
                "total_note": f"with the goodwill credits that follow ({credited[rows].mean():.0%} of these "
                              "account-months had one)"}
    return totals


def latest_active_rows(panel: dict, log_hr: np.ndarray, churn_day: np.ndarray) -> dict:
    """Each account still a customer at the as-of date: its index, its tenure (days) at the as-of date and
    the planted log hazard ratio of its latest panel row."""
    account = panel["account"]
    last = np.r_[account[1:] != account[:-1], True]
    rows = np.flatnonzero(last & (churn_day[account] < 0))
    return {"account": account[rows], "tenure_day": panel["stop_day"][rows].astype(np.int64), "log_hr": log_hr[rows],
            "row": {name: values[rows] for name, values in panel.items()}}


def rebuilt_latest_rows(con, work_dir: Path, accounts: dict, tickets: dict, active: np.ndarray,
                        first_response_factor: float, report: Callable[[str], None]) -> dict:
    """Each active account's latest panel row (the as-of month), rebuilt from its tickets with every first
    response multiplied by `first_response_factor`: SLA breaches, bad interactions and every other measure
    recomputed by the build, CSAT and the rest as drawn. Rows in the order of `active` (sorted indices);
    ``account`` holds the position in `active`.

    Only the active accounts and their tickets created since the start of the latest row's trailing window
    go in: the latest row reads nothing older, and every later ticket is kept so repeat contacts resolve as
    in the full data. Signups before that day are moved to it, so the build makes four months per account
    instead of the whole history; the rows' days are then not the tenure (take it from the potential
    panel), but their measures are unchanged. At 100,000 accounts: 6 s beside the potential build's 36 s."""
    window_start_day = _day(AS_OF.replace(day=1)) - WINDOW_DAYS
    window_start_s = window_start_day * DAY_SECONDS
    is_active = np.zeros(len(accounts["signup_day"]), bool)
    is_active[active] = True
    keep = is_active[tickets["account"]] & (tickets["created"] >= window_start_s)
    changed = {key: values[keep] for key, values in tickets.items()}
    changed["account"] = np.searchsorted(active, changed["account"]).astype(np.int32)
    first_response = changed["first_response_s"]
    # a ticket still unanswered at the as-of date stays unanswered: its response time is not in the data
    changed["first_response_s"] = np.where(
        first_response >= 0, np.rint(first_response * first_response_factor), first_response).astype(np.int32)
    active_accounts = {key: values[active] for key, values in accounts.items()}
    active_accounts["signup_day"] = np.maximum(active_accounts["signup_day"], window_start_day)
    db_path = _build_without_churn(con, work_dir, "whatif", active_accounts, changed, report)
    latest = _read_panel(db_path, latest_only=True)
    if not np.array_equal(latest["account"], np.arange(active.size)):
        raise RuntimeError("the what-if build lacks an as-of month row for some active accounts")
    return latest


def expected_churn_probability(tenure_day: np.ndarray, log_hr: np.ndarray, horizon_days: int,
                               competing_hazard: np.ndarray | float = 0.0) -> np.ndarray:
    """P(churn within `horizon_days` after the as-of date) at the demo's hazard h0(tenure) * exp(log_hr),
    the log hazard ratio held for the whole horizon; `competing_hazard` is the cumulative hazard of the other
    cause over the horizon (involuntary churn, when planted), so the probability is that of churn from either."""
    tenure_day = np.asarray(tenure_day, dtype=np.int64)
    h0 = baseline_cumulative_hazard(int(tenure_day.max(initial=0)) + horizon_days)
    return -np.expm1(-((h0[tenure_day + horizon_days] - h0[tenure_day]) * np.exp(log_hr) + competing_hazard))


def cause_incidence(tenure_day: np.ndarray, log_hr: np.ndarray, involuntary_per_day: np.ndarray,
                    horizon_days: int) -> tuple[np.ndarray, np.ndarray]:
    """P(churn voluntarily) and P(churn involuntarily) within `horizon_days` after the as-of date, each cause's
    cumulative incidence: the voluntary hazard h0(tenure) * exp(log_hr), the involuntary `involuntary_per_day`,
    both held for the whole horizon. Exact: both hazards are constant within each day, so each day's churn splits
    between the causes in proportion to them. The two add up to `expected_churn_probability` of both."""
    tenure_day = np.asarray(tenure_day, dtype=np.int64)
    h0 = baseline_cumulative_hazard(int(tenure_day.max(initial=0)) + horizon_days)
    scale = np.exp(log_hr)
    surviving = np.ones(tenure_day.size)
    voluntary, involuntary = np.zeros(tenure_day.size), np.zeros(tenure_day.size)
    for day in range(horizon_days):
        voluntary_hazard = (h0[tenure_day + day + 1] - h0[tenure_day + day]) * scale
        total = voluntary_hazard + involuntary_per_day
        churning = surviving * -np.expm1(-total)
        voluntary += churning * voluntary_hazard / total
        involuntary += churning * involuntary_per_day / total
        surviving *= np.exp(-total)
    return voluntary, involuntary


def true_whatif(latest: dict, changed_log_hr: np.ndarray, arr: np.ndarray,
                involuntary_daily_hazard: float = 0.0) -> dict:
    """Expected accounts churned and ARR lost over the horizon, today and with every first response halved
    (`changed_log_hr`: the latest rows rebuilt from the halved tickets). With involuntary churn planted
    (`involuntary_daily_hazard` > 0, its baseline per day) churn is from either cause, the change moves only the
    voluntary hazard, and ``by_cause`` splits the figures between the causes."""
    direct_hr = next(e.hazard_ratio for e in PLANTED_EFFECTS if e.factor == "first_response_hours")
    tenure = latest["tenure_day"]
    involuntary_per_day = involuntary_daily_hazard * np.exp(involuntary_log_hazard_ratio(latest["row"]["is_starter"]))
    involuntary_over_horizon = involuntary_per_day * WHATIF_HORIZON_DAYS
    today = expected_churn_probability(tenure, latest["log_hr"], WHATIF_HORIZON_DAYS, involuntary_over_horizon)
    changed = expected_churn_probability(tenure, changed_log_hr, WHATIF_HORIZON_DAYS, involuntary_over_horizon)
    # the same change with only the median moved: what a what-if holding SLA breaches and bad interactions at
    # today's values would find, had it the true direct effect
    held = dict(latest["row"])
    held["first_response_hours_median"] = held["first_response_hours_median"] * WHATIF_FIRST_RESPONSE_FACTOR
    held_fixed = expected_churn_probability(tenure, panel_log_hazard_ratio(held), WHATIF_HORIZON_DAYS,
                                            involuntary_over_horizon)
    churned_today, churned_changed = round(float(today.sum()), 3), round(float(changed.sum()), 3)
    arr_today, arr_changed = round(float(today @ arr), 2), round(float(changed @ arr), 2)
    whatif = {
        "factor": "first_response_hours",
        "change": f"{WHATIF_FIRST_RESPONSE_FACTOR - 1:+.0%}",
        "description": "every ticket's first response time halved",
        "horizon_days": WHATIF_HORIZON_DAYS,
        "active_accounts": int(today.size),
        "expected_churned_today": churned_today,
        "expected_churned_with_change": churned_changed,
        "accounts_kept": round(churned_today - churned_changed, 3),
        "active_arr": round(float(arr.sum()), 2),
        "expected_arr_lost_today": arr_today,
        "expected_arr_lost_with_change": arr_changed,
        "arr_kept": round(arr_today - arr_changed, 2),
        "direct_hazard_ratio_per_doubling": direct_hr,
        "accounts_kept_with_mediators_held_fixed": round(churned_today - float(held_fixed.sum()), 3),
        "assumes": (
            "the accounts active at the as-of date (signed up, not churned); each keeps its latest panel row's "
            "measures for the whole horizon, the row recomputed by the build from its tickets with every first "
            "response halved (SLA breaches and bad interactions follow; CSAT, reopens, handoffs and credits as "
            "drawn; a ticket unanswered at the as-of date stays so); churn over tenure t..t+horizon at the "
            "demo's own hazard h0(tenure) * exp(lp); ARR is 12 x the account's last MRR (accounts.csv). The "
            f"planted first-response hazard ratio ({direct_hr} per doubling of the median) is the direct effect; "
            "this total effect adds the path through SLA breaches and bad interactions. "
            "accounts_kept_with_mediators_held_fixed moves only the median, holding those at today's values"
        ),
    }
    if involuntary_daily_hazard > 0:
        whatif.update(_whatif_by_cause(latest, changed_log_hr, arr, involuntary_per_day))
    return whatif


def _whatif_by_cause(latest: dict, changed_log_hr: np.ndarray, arr: np.ndarray,
                     involuntary_per_day: np.ndarray) -> dict:
    """The true what-if's figures under competing risks: the accounts and ARR kept split between the causes, and
    the same change where nobody churned involuntarily (the voluntary cause alone, its net figure)."""
    tenure = latest["tenure_day"]
    voluntary_today, involuntary_today = cause_incidence(tenure, latest["log_hr"], involuntary_per_day,
                                                         WHATIF_HORIZON_DAYS)
    voluntary_changed, involuntary_changed = cause_incidence(tenure, changed_log_hr, involuntary_per_day,
                                                             WHATIF_HORIZON_DAYS)
    by_cause = {}
    for cause, today, changed in (("voluntary", voluntary_today, voluntary_changed),
                                  ("involuntary", involuntary_today, involuntary_changed)):
        by_cause[cause] = {
            "expected_churned_today": round(float(today.sum()), 3),
            "expected_churned_with_change": round(float(changed.sum()), 3),
            "accounts_kept": round(float(today.sum() - changed.sum()), 3),
            "arr_kept": round(float((today - changed) @ arr), 2),
        }
    net_today = expected_churn_probability(tenure, latest["log_hr"], WHATIF_HORIZON_DAYS)
    net_changed = expected_churn_probability(tenure, changed_log_hr, WHATIF_HORIZON_DAYS)
    return {
        "by_cause": by_cause,
        "accounts_kept_without_involuntary_churn": round(float(net_today.sum() - net_changed.sum()), 3),
        "arr_kept_without_involuntary_churn": round(float((net_today - net_changed) @ arr), 2),
        "competing_risks": (
            "involuntary churn is planted (causes): churn over the horizon is from either cause, "
            "1 - exp(-(dH0 * exp(lp) + dH_involuntary * exp(lp_involuntary))), and the change moves only the "
            "voluntary lp. by_cause splits the figures by each cause's cumulative incidence, exact on a daily grid: "
            "involuntary churn rises a little (its accounts_kept below 0), as the accounts kept from leaving stay "
            "at risk of a failed payment. accounts_kept_without_involuntary_churn is the same change with the "
            "voluntary hazard alone (as if no payment ever failed), for comparison"
        ),
    }


# ---------------------------------------------------------------------------------------------------
# the planted change's true effect


def _tickets_without_the_change(tickets: dict, reached: np.ndarray, window_start_s: int) -> dict:
    """The reached accounts' tickets created since `window_start_s`, with the first responses the change sped up
    put back as they were drawn (`_plant_the_change` undone, to the second), the resolution as much later; a ticket
    now answered after the as-of date is unanswered."""
    change_s = _day(PLANTED_CHANGE.start) * DAY_SECONDS
    as_of_end = (_day(AS_OF) + 1) * DAY_SECONDS
    keep = np.isin(tickets["account"], reached) & (tickets["created"] >= window_start_s)
    kept = {key: values[keep] for key, values in tickets.items()}
    kept["account"] = np.searchsorted(reached, kept["account"]).astype(np.int32)
    first, resolution, created = kept["first_response_s"], kept["resolution_s"], kept["created"]
    sped_up = (created >= change_s) & (first >= 0)
    undone = np.where(sped_up, np.rint(first / PLANTED_CHANGE.first_response_factor), first).astype(np.int64)
    resolution = np.where(sped_up & (resolution >= 0), resolution + (undone - first), resolution)
    kept["first_response_s"] = np.where(created + undone < as_of_end, undone, -1).astype(np.int32)
    kept["resolution_s"] = np.where((resolution >= 0) & (created + resolution < as_of_end), resolution,
                                    -1).astype(np.int32)
    return kept


def planted_change_truth(con, work_dir: Path, accounts: dict, tickets: dict, panel: dict, log_hr: np.ndarray,
                         churn_day: np.ndarray, arr: np.ndarray, report: Callable[[str], None]) -> dict:
    """The planted change's true effect on the accounts it reached, from the generator's own hazards: each reached
    account's months since the change under the measures it had (with the change) and under those the build makes
    from its tickets without it (`_tickets_without_the_change`), everything else as drawn.

    accounts_kept_since_change: for every reached account at risk at the change (or signing up after it), its
    chance of churning by the as-of date without the change minus with it. hazard_ratio: the expected churns with
    the change over those without it, across the reached accounts' months at risk since the change (what a
    difference-in-differences of the monthly hazard estimates). accounts_kept_per_year: the reached accounts still
    customers at the as-of date, over the next year, each at its latest month's measures without the change minus
    with it (as the true what-if). ARR: 12 x the account's last MRR."""
    change_month = (PLANTED_CHANGE.start.year - HISTORY_START.year) * 12 + PLANTED_CHANGE.start.month \
        - HISTORY_START.month
    window_start_day = _day(PLANTED_CHANGE.start) - WINDOW_DAYS
    reached = np.flatnonzero(accounts["region"] == REGIONS.index(PLANTED_CHANGE.region))
    without = _tickets_without_the_change(tickets, reached, window_start_day * DAY_SECONDS)
    reached_accounts = {key: values[reached] for key, values in accounts.items()}
    # the months before the trailing window of the change's month read nothing that differs: start there
    reached_accounts["signup_day"] = np.maximum(reached_accounts["signup_day"], window_start_day)
    unchanged = _read_panel(_build_without_churn(con, work_dir, "unchanged", reached_accounts, without, report),
                            latest_only=False)
    after = unchanged["month"] >= change_month
    unchanged_key = reached[unchanged["account"][after]].astype(np.int64) * 1000 + unchanged["month"][after]
    unchanged_log_hr = panel_log_hazard_ratio({k: v[after] for k, v in unchanged.items()})

    is_reached = np.isin(panel["account"], reached)
    rows = np.flatnonzero(is_reached & (panel["month"] >= change_month))
    key = panel["account"][rows].astype(np.int64) * 1000 + panel["month"][rows]
    order = np.argsort(unchanged_key)
    position = np.searchsorted(unchanged_key, key, sorter=order)
    position = order[np.minimum(position, order.size - 1)]
    if not np.array_equal(unchanged_key[position], key):
        raise RuntimeError("the build without the planted change lacks some of the reached accounts' months")
    account, start, stop = panel["account"][rows], panel["start_day"][rows], panel["stop_day"][rows]
    h0 = baseline_cumulative_hazard(int(stop.max(initial=0)) + WHATIF_HORIZON_DAYS + 1)
    exposure = h0[stop] - h0[start]
    with_change, without_change = np.exp(log_hr[rows]), np.exp(unchanged_log_hr[position])
    churn = churn_day[account]
    at_change = np.r_[True, account[1:] != account[:-1]]
    alive_at_change = (churn < 0) | (churn >= start)
    alive_at_change = alive_at_change[at_change][np.cumsum(at_change) - 1]  # each account's first row decides
    at_risk = (churn < 0) | (start < churn)

    def churn_chance(scale: np.ndarray) -> np.ndarray:
        cumulative = np.bincount(np.cumsum(at_change) - 1, weights=np.where(alive_at_change, exposure * scale, 0.0))
        return -np.expm1(-cumulative)

    kept_since = churn_chance(without_change) - churn_chance(with_change)
    first_account = account[at_change]
    latest = (panel["month"][rows] == panel["month"].max()) & (churn < 0)
    tenure = stop[latest]
    per_year = (expected_churn_probability(tenure, np.log(without_change[latest]), WHATIF_HORIZON_DAYS)
                - expected_churn_probability(tenure, np.log(with_change[latest]), WHATIF_HORIZON_DAYS))
    weights = exposure * at_risk
    return {
        "name": PLANTED_CHANGE.name,
        "date": PLANTED_CHANGE.start.isoformat(),
        "treated": [PLANTED_CHANGE.treated],
        "description": (f"from {PLANTED_CHANGE.start:%d %B %Y} every ticket of the {PLANTED_CHANGE.region} accounts "
                        f"is answered {1 / PLANTED_CHANGE.first_response_factor:g} times as fast"),
        "first_response_factor": PLANTED_CHANGE.first_response_factor,
        "reached_accounts_since_change": int(at_change.sum()),
        "hazard_ratio": round(float((weights * with_change).sum() / (weights * without_change).sum()), 4),
        "accounts_kept_since_change": round(float(kept_since.sum()), 3),
        "arr_kept_since_change": round(float(kept_since @ arr[first_account]), 2),
        "reached_active_accounts": int(latest.sum()),
        "accounts_kept_per_year": round(float(per_year.sum()), 3),
        "arr_kept_per_year": round(float(per_year @ arr[account[latest]]), 2),
        "assumes": (
            "the reached accounts' months since the change, each at the measures the build makes from its tickets "
            "with the change (as drawn) and without it (first responses as they would have been, the resolution "
            "as much later, CSAT and the rest as drawn); churn at the demo's hazard h0(tenure) * exp(lp). "
            "hazard_ratio weighs each month at risk by its expected churn without the change; "
            "accounts_kept_since_change sums, over the accounts at risk at the change or signing up after it, the "
            "chance of churning by the as-of date without it minus with it; per year: the accounts still "
            "customers at the as-of date over the next 365 days at their latest month's measures; ARR is 12 x the "
            "account's last MRR"
        ),
    }


# ---------------------------------------------------------------------------------------------------
# writing


def _id_width(n: int, minimum: int) -> int:
    return max(minimum, len(str(n)))


def _copy(con, table: pa.Table, query: str, path: Path, file_format: str, params: dict) -> None:
    """Write the rows of `sql/demo/<query>.sql` over the registered Arrow table `t` to `path` (order preserved)."""
    con.register("t", table)
    try:
        execute_template(con, f"copy_to_{file_format}", {**params, "path": str(path)},
                         query=file_fragment("demo", query))
    finally:
        con.unregister("t")


def _dictionary(codes: np.ndarray, names: tuple[str, ...]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int8)), pa.array(names))


def _write_accounts(con, path: Path, file_format: str, accounts: dict, churn_day: np.ndarray,
                    mrr: np.ndarray, churn_reason: np.ndarray | None = None) -> None:
    """The accounts file; with `churn_reason` (None where none is given) it has that column too, last."""
    signup = accounts["signup_day"]
    churned = churn_day >= 0
    columns = {
        "n": np.arange(1, signup.size + 1, dtype=np.int64),
        "signup_date": pa.array(signup.astype("datetime64[D]")),
        "churn_date": pa.array((signup + np.maximum(churn_day, 0)).astype("datetime64[D]"), mask=~churned),
        "mrr": mrr,
        "plan": _dictionary(accounts["plan"], PLANS),
        "region": _dictionary(accounts["region"], REGIONS),
        "industry": _dictionary(accounts["industry"], INDUSTRIES),
        "company_size": _dictionary(accounts["size"], COMPANY_SIZES),
        "csm": _dictionary(_csm_codes(accounts["region"]), tuple(n for names in CSMS_BY_REGION for n in names)),
    }
    if churn_reason is not None:
        columns["churn_reason"] = pa.array(churn_reason, type=pa.string())
    table = pa.table(columns)
    _copy(con, table, "accounts_file", path, file_format, {"width": _id_width(signup.size, 6)})


def _csm_codes(region: np.ndarray) -> np.ndarray:
    """Each account's manager, an index into the flattened CSMS_BY_REGION: its region's managers in turn."""
    counts = np.array([len(names) for names in CSMS_BY_REGION])
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    number = np.arange(region.size)
    return (first[region] + number % counts[region]).astype(np.int8)


def _write_interactions(con, path: Path, file_format: str, tickets: dict, n_accounts: int) -> int:
    created = tickets["created"]
    k = created.size

    def timestamp(offset_s: np.ndarray | None) -> pa.Array:
        if offset_s is None:
            return pa.array(created.astype("datetime64[s]"))
        return pa.array((created + offset_s).astype("datetime64[s]"), mask=offset_s < 0)

    table = pa.table({
        "n": np.arange(1, k + 1, dtype=np.int64),
        "account": tickets["account"].astype(np.int64) + 1,
        "created_at": timestamp(None),
        "first_response_at": timestamp(tickets["first_response_s"]),
        "resolved_at": timestamp(tickets["resolution_s"]),
        "channel": _dictionary(tickets["channel"], CHANNELS),
        "severity": _dictionary(tickets["severity"], SEVERITIES),
        "csat": pa.array(tickets["csat"], mask=tickets["csat"] == 0),
        "reopens": tickets["reopens"],
        "handoffs": tickets["handoffs"],
        "escalated": tickets["escalated"],
        "agent_updates": tickets["agent_updates"],
        "credit_amount": tickets["credit"],
    })
    _copy(con, table, "interactions_file", path, file_format,
          {"id_width": _id_width(k, 7), "account_width": _id_width(n_accounts, 6)})
    return k


def _write_mrr_history(con, path: Path, file_format: str, history: dict, n_accounts: int) -> int:
    month = (np.datetime64(HISTORY_START, "M") + history["month"]).astype("datetime64[D]")
    table = pa.table({
        "account": history["account"].astype(np.int64) + 1,
        "month": pa.array(month),
        "mrr": history["mrr"],
    })
    _copy(con, table, "mrr_history_file", path, file_format, {"width": _id_width(n_accounts, 6)})
    return int(history["account"].size)


def _planted_effects_document(seed: int, counts: dict, whatif: dict, totals: dict, causes: dict | None) -> dict:
    document = {
        "seed": int(seed),
        "n_accounts": counts["accounts"],
        "as_of": AS_OF.isoformat(),
        "history_start": HISTORY_START.isoformat(),
        "model": (
            "hazard per day = h0(tenure) * exp(lp), constant within each account_months row; lp sums the terms "
            "below from the row's trailing 90-day measures, each centred at its reference; a NULL measure adds 0"
        ),
        "baseline": {
            "monthly_churn_at_signup": BASELINE_MONTHLY_FLOOR + BASELINE_MONTHLY_EXTRA,
            "monthly_churn_floor": BASELINE_MONTHLY_FLOOR,
            "decay_days": BASELINE_DECAY_DAYS,
        },
        "references": {
            "first_response_hours_median": FIRST_RESPONSE_REFERENCE_HOURS,
            "reopen_rate": REOPEN_REFERENCE,
            "agent_update_rate": AGENT_UPDATE_REFERENCE,
            "high_priority_share_90d": HIGH_PRIORITY_REFERENCE,
        },
        "effects": [{**asdict(effect), **totals.get((effect.factor, effect.term), {})} for effect in PLANTED_EFFECTS],
        "true_whatif": [whatif],
        "revenue": {
            "starting_mrr_median_by_plan": dict(zip(PLANS, PLAN_MRR_MEDIAN.tolist())),
            "expansion": EXPANSION,
            "pre_churn_contraction": PRE_CHURN_CONTRACTION,
            "accounts_mrr": "the account's last mrr_history month",
        },
        "counts": counts,
    }
    if causes is not None:
        document["model"] += ("; with churn causes planted (causes below) this is the voluntary cause's hazard, and "
                              "the effects are its")
        document["causes"] = causes
    return document


def planted_causes_document(causes: PlantedCauses) -> dict:
    """The `causes` section of planted_effects.json: each cause's planted hazard, and the churns it made."""
    churned = causes.churn_day >= 0
    voluntary, involuntary = churned & ~causes.involuntary, causes.involuntary
    reasons = churn_reasons.load()  # the build's built-in mapping: what it will show for these reasons
    given = causes.reason[churned]
    recorded_cause = np.array([reasons.cause_of(reason) for reason in given], dtype=object)
    unrecorded = np.array([reason is None for reason in causes.reason]) & churned
    n_churned, n_involuntary = int(churned.sum()), int(involuntary.sum())
    service_factors = [effect for effect in PLANTED_EFFECTS if effect.factor != "plan"]
    return {
        "involuntary_share_asked": causes.share,
        "model": (
            "competing risks: each account has a voluntary and an involuntary hazard, drawn independently from "
            "separate random streams; the churn observed is the earlier of the two, the other never happens. "
            "Voluntary: the model, baseline and effects above. Involuntary (a failed or disputed payment): "
            "baseline_hazard_per_day * exp(lp_involuntary), constant over tenure, lp_involuntary from plan alone; "
            "no service measure moves it. The baseline is calibrated on the potential panel so that about "
            "involuntary_share_asked of the churn expected by the as-of date is involuntary"
        ),
        "voluntary": {
            "hazard": "h0(tenure) * exp(lp): model, baseline and effects above",
            "reasons": dict(zip(VOLUNTARY_REASONS, VOLUNTARY_REASON_SHARE.tolist())),
            "reasons_note": "Stripe's cancellation feedback words, drawn independently of the account",
        },
        "involuntary": {
            "baseline_hazard_per_day": causes.daily_hazard,
            "baseline_monthly_churn": round(-math.expm1(-causes.daily_hazard * DAYS_PER_MONTH), 6),
            "effects": [
                {"factor": "plan", "term": "plan=Starter", "hazard_ratio": INVOLUNTARY_STARTER_HAZARD_RATIO,
                 "note": "small plans pay by card, larger ones are invoiced"},
                *({"factor": effect.factor, "term": effect.term, "hazard_ratio": 1.0,
                   "note": "support cannot fix a failed card"} for effect in service_factors),
            ],
            "reasons": dict(zip(INVOLUNTARY_REASONS, INVOLUNTARY_REASON_SHARE.tolist())),
        },
        "unrecorded_reason_share": UNRECORDED_REASON_SHARE,
        "revenue": "an involuntary churn comes without the contraction before it (pre_churn_contraction)",
        "churned": n_churned,
        "churned_by_planted_cause": {"voluntary": int(voluntary.sum()), "involuntary": n_involuntary},
        "involuntary_share_realised": round(n_involuntary / n_churned, 4) if n_churned else None,
        # what the build shows with its built-in reasons file: a churn without a reason is unknown, whatever its cause
        "churned_by_recorded_cause": {cause: int((recorded_cause == cause).sum())
                                      for cause in ("voluntary", "involuntary", churn_reasons.UNKNOWN)},
        "churned_by_reason": {reason: int((given == reason).sum())
                              for reason in VOLUNTARY_REASONS + INVOLUNTARY_REASONS},
        "churned_without_reason": int(unrecorded.sum()),
        "churned_without_reason_by_planted_cause": {"voluntary": int((unrecorded & ~involuntary).sum()),
                                                    "involuntary": int((unrecorded & involuntary).sum())},
        "unknown_share": round(int(unrecorded.sum()) / n_churned, 4) if n_churned else None,
    }
