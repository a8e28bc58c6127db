"""The one typed settings object every build parameter comes from (bound into SQL, never pasted)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

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
# (README, Performance).
DEFAULT_MEMORY_LIMIT_MB = 4096


class SettingsError(ValueError):
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
