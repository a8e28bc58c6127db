"""The one typed settings object every build parameter comes from (bound into SQL, never pasted)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from .errors import RetentionError

# The trailing window of every service measure in the panel: long enough to see a pattern of bad interactions,
# short enough to be "recent". A constant, not a setting: the panel's columns are named for it (`tickets_90d`) and
# the pages say "90 days".
WINDOW_DAYS = 90

# Where the build writes and the app and every command read, unless RETENTION_DB or --db says otherwise.
DEFAULT_DB_PATH = Path("data/retention.duckdb")

SEVERITIES = ("urgent", "high", "normal", "low")
# The severities a priority queue answers first: their share of an account's tickets is case mix, a
# confounder of every time-based measure (urgent work is answered faster and comes from accounts in trouble).
HIGH_PRIORITY_SEVERITIES = ("urgent", "high")
# Channels answered live, matched case-insensitively on the interaction's channel text: their share is the
# channel mix (a chat or a call is answered in minutes, an e-mail in hours, whoever the agent).
LIVE_CHANNELS = ("chat", "live chat", "phone", "call", "voice", "messaging", "whatsapp", "sms")

# Hours to first response per severity; a common support-desk default, overridable by --sla.
DEFAULT_SLA_HOURS = {"urgent": 1.0, "high": 4.0, "normal": 8.0, "low": 24.0}


# The exact drivers fit grows with the accounts; above this many the build fits it on a seeded random sample of
# accounts (all of their months), named in the model info, so the model stage stays short at any size. Its
# intervals are the sample's. 0 or None: every account.
DEFAULT_DRIVERS_SAMPLE = 250_000

# DuckDB's working memory during a build (--memory-limit-mb): by default the smaller of this and half of RAM.
# Joins and sorts beyond it spill to a temp folder beside the database, and the panel's exact medians are
# built in parts of the accounts (a `-- parts:` line in the SQL header), which trades some time for a much lower peak
# (docs/performance.md).
DEFAULT_MEMORY_LIMIT_MB = 4096
# A table built in parts (`parts:` in its header) has one part per this many rows of the table its header names.
# Each part reads every row of that table, so a part is as large as the default memory limit allows (measured in
# docs/performance.md).
ROWS_PER_PART = 16_000_000
# DuckDB's share of memory while the models run: they work in numpy and pandas on what they read, and the tables
# are on disk by then, so DuckDB's cache of them can shrink to make room.
MODELS_MEMORY_LIMIT_MB = 2048
# Set for a moment before the models' limit, so DuckDB lets go of the tables the data stages left in its cache.
CACHE_RELEASE_LIMIT_MB = 64
# Independent model fits run side by side in this many threads (`models/fits_in_threads.py`): one per core, as
# DuckDB used them before, and at most four, since each fit in flight holds working arrays of its own.
MODEL_FIT_THREADS = max(1, min(os.cpu_count() or 1, 4))


# ------------------------------------------------------------------------------- sample caps and draw counts
# Every model that samples accounts, draws coefficients or resamples has its cap and its count here: they decide
# how long a build or a page takes at a million accounts and how wide an interval is, so they are read side by side.

# The seed of every seeded sample of accounts (the drivers model, each factor's own model, the holdout refits):
# the same accounts are drawn on every build of the same data.
SAMPLE_SEED = 7
# A per-factor model is fitted on at most this many accounts (a seeded sample above, said in the notes): the build
# fits every factor several times, so at a million accounts each fit must stay within seconds.
FACTOR_MODEL_ACCOUNTS = 50_000
# Accounts a holdout refit is fitted on at most (a seeded sample above it; every active account is still scored): a
# check of calibration needs no more than a factor's own model, and the build refits every stored model at two
# cutoffs.
HOLDOUT_MAX_ACCOUNTS = FACTOR_MODEL_ACCOUNTS
# A churn cause gets models of its own (its drivers, each factor's effect, the what-if's share) only with at least
# this many churned accounts: fewer cannot separate a factor's effect from chance.
MIN_CAUSE_CHURNS = 30

# A what-if's horizon (a year, the span a support budget is set for) and its coefficient draws for the 95%
# interval, unless the command or the page says otherwise.
WHATIF_HORIZON_DAYS = 365
WHATIF_DRAWS = 1000
# Above this many accounts a what-if's draws use a seeded random sample of accounts, scaled to all of them: the
# sampling error (well under 1% of the total) is small beside the coefficient uncertainty being measured, and 1,000
# draws over a million accounts would otherwise take minutes.
WHATIF_DRAW_ACCOUNTS = 100_000
# The overview's levers are what-ifs over the same year; it reads an interval, not a distribution, so fewer draws on
# a smaller sample of accounts keep the build quick.
LEVER_HORIZON_DAYS = WHATIF_HORIZON_DAYS
LEVER_DRAWS = 400
LEVER_DRAW_ACCOUNTS = 20_000
# The app's what-if answers a slider move while the person waits: its interval's draws run on at most this many
# accounts (a seeded sample, said in the notes); the estimate itself uses every account.
APP_DRAW_ACCOUNTS = 20_000
# A filtered refit in the app fits at most this many accounts (a seeded sample above it, said in the model's
# notes), so a filter change stays interactive however large the segment.
APP_REFIT_ACCOUNTS = 50_000
# The at-risk page lists at most this many accounts; its totals and the download cover every one.
RISK_LIST_MAX = 500
# The Data page's comparison of the naive and the adjusted investment case with the demo's truth runs two what-ifs
# while the person waits; it compares an interval with the truth, so the levers' smaller count of draws will do.
DEMO_COMPARISON_DRAWS = 400

# Revenue drivers' cluster bootstrap over accounts: its resamples for the percentile intervals, and a fixed seed,
# so every build of the same data gives the same intervals.
REVENUE_BOOTSTRAP_RESAMPLES = 400
REVENUE_BOOTSTRAP_SEED = 20240417

# A categorical segment with more distinct values than this (an id-like column) is not offered as a filter in the
# app, and the build's segment cells (account_cells) are not made of it.
FILTER_MAX_LEVELS = 200
# A survival comparison with more groups than this is a table nobody reads (or an id-like column): filter first.
KM_MAX_GROUPS = 60


class SettingsError(RetentionError, ValueError):
    """A build setting the user gave cannot be used."""


@dataclass(frozen=True)
class BuildSettings:
    # None means: the latest timestamp found in the inputs.
    as_of: date | None = None
    sla_hours: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SLA_HOURS))
    # A contact within 7 days of a resolution is treated as the same problem coming back.
    repeat_contact_days: int = 7
    # most accounts the drivers model is fitted on (a random sample above it); None fits every account
    drivers_sample: int | None = DEFAULT_DRIVERS_SAMPLE
    # DuckDB's memory during the build; None: the smaller of DEFAULT_MEMORY_LIMIT_MB and half of RAM
    memory_limit_mb: int | None = None
    # a causal structure file (see pipelines/models/causal_structure.toml); None: the built-in one
    causal_structure: str | None = None
    # a churn reasons file (see pipelines/churn_reasons.toml): each reason's cause; None: the built-in one
    churn_reasons: str | None = None
    # False builds the data alone: the model tables are left empty, each saying why (a quick check of new inputs)
    fit_models: bool = True

    def __post_init__(self) -> None:
        unknown = set(self.sla_hours) - set(SEVERITIES)
        if unknown:
            raise SettingsError(f"--sla: unknown severity {sorted(unknown)}; use {', '.join(SEVERITIES)}")
        missing = set(SEVERITIES) - set(self.sla_hours)
        if missing:
            merged = dict(DEFAULT_SLA_HOURS)
            merged.update(self.sla_hours)
            object.__setattr__(self, "sla_hours", merged)
        for severity, hours in self.sla_hours.items():
            if not hours > 0:
                raise SettingsError(f"--sla: the target for {severity} must be a positive number of hours, got {hours}")
        if self.drivers_sample is not None and self.drivers_sample < 1000:
            raise SettingsError(f"--drivers-sample must be at least 1000 accounts (or 0 for all), got {self.drivers_sample}")
        if self.memory_limit_mb is not None and self.memory_limit_mb < 256:
            raise SettingsError(f"--memory-limit-mb must be at least 256, got {self.memory_limit_mb}")
        if not 1 <= self.repeat_contact_days <= 90:
            raise SettingsError(f"repeat_contact_days must be between 1 and 90, got {self.repeat_contact_days}")


def parse_sla(text: str) -> dict[str, float]:
    """Parse `urgent=1,high=4,normal=8,low=24` into hours per severity."""
    targets: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise SettingsError(f"--sla: expected severity=hours, got {part!r}")
        try:
            targets[name.strip().lower()] = float(value)
        except ValueError:
            raise SettingsError(f"--sla: {value!r} for {name.strip()} is not a number of hours") from None
    return targets


# The environment variable that points the app and every command at another database file (`retention serve` sets
# it for the app it starts).
ENV_DB = "RETENTION_DB"


def database_path(given: Path | str | None = None) -> Path:
    """The database file to build or read: `given` (a --db option) when set, else $RETENTION_DB, else
    DEFAULT_DB_PATH. The one place the variable is read, so the app and every command agree on it."""
    return Path(given or os.environ.get(ENV_DB) or DEFAULT_DB_PATH)
