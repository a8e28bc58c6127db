"""The units every importer converts: time zones to UTC, epoch seconds and durations, numbers as exported,
cents to major units, and the contract's date and time formats."""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from .reading import ImportInputError, clean_text


ISO_UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
DURATION_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
# Stripe's zero-decimal currencies (amounts are already whole units) and three-decimal ones
# (amounts are in thousandths); every other currency is in hundredths.
ZERO_DECIMAL_CURRENCIES = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)
THREE_DECIMAL_CURRENCIES = frozenset("bhd jod kwd omr tnd".split())


def check_timezone(name: str | None) -> str | None:
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImportInputError("--timezone", f"{name!r} is not a time zone name; use an IANA name such as "
                               "Europe/Berlin or America/New_York") from None
    return name


OFFSET_PATTERN = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)


@dataclass
class ParsedTimes:
    utc: pd.Series  # datetime64[ns, UTC], NaT where empty or unparseable
    bad: pd.Series  # bool: a value was there but did not parse
    n_naive: int  # values without an offset, read in the given (or assumed) zone
    n_ambiguous: int  # naive values in the repeated hour of a DST change


def parse_timestamps(values: pd.Series, fmt: str | None = "iso", tz: str | None = None) -> ParsedTimes:
    """Text or numbers → UTC. `fmt`: iso (offset honoured; naive read in `tz`, UTC when None), epoch_s,
    epoch_ms, or a strptime pattern. A value in the repeated hour of a DST change is taken as the first
    (summer-time) occurrence and counted, since the export cannot say which one it was."""
    text = clean_text(values)
    present = text.notna()
    fmt = fmt or "iso"
    n_naive = n_ambiguous = 0
    if fmt in ("epoch_s", "epoch_ms"):
        numbers = pd.to_numeric(text, errors="coerce")
        utc = pd.to_datetime(numbers, unit="s" if fmt == "epoch_s" else "ms", utc=True, errors="coerce")
    else:
        if fmt == "iso":
            has_offset = text.fillna("").str.contains(OFFSET_PATTERN)
            aware = pd.to_datetime(text.where(has_offset), format="ISO8601", utc=True, errors="coerce")
            naive = pd.to_datetime(text.where(~has_offset & present), format="ISO8601", errors="coerce")
        else:
            parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc="%z" in fmt)
            if "%z" in fmt:
                aware, naive = parsed, pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
            else:
                aware, naive = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]"), parsed
        n_naive = int(naive.notna().sum())
        zone = tz or "UTC"
        summer = naive.dt.tz_localize(zone, ambiguous=np.ones(len(naive), bool), nonexistent="shift_forward")
        winter = naive.dt.tz_localize(zone, ambiguous=np.zeros(len(naive), bool), nonexistent="shift_forward")
        n_ambiguous = int((summer.notna() & (summer != winter)).sum())
        utc = aware.fillna(summer.dt.tz_convert("UTC"))
    utc = utc.astype("datetime64[ns, UTC]")
    return ParsedTimes(utc=utc, bad=present & utc.isna(), n_naive=n_naive, n_ambiguous=n_ambiguous)


def parse_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Text → float; returns (numbers, bad) where bad marks a value that was there and is not a number."""
    text = clean_text(values)
    # "1,234.50" from a spreadsheet; a comma alone stays ambiguous (decimal or thousands) and is refused
    text = text.where(~text.fillna("").str.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?"), text.str.replace(",", ""))
    numbers = pd.to_numeric(text, errors="coerce")
    return numbers, text.notna() & numbers.isna()


def add_duration(start: pd.Series, amount: pd.Series, unit: str) -> pd.Series:
    """start + amount in `unit` (seconds, minutes, hours, days); NaT where either is missing."""
    return start + pd.to_timedelta(amount * DURATION_SECONDS[unit], unit="s")


def format_utc(times: pd.Series) -> pd.Series:
    return times.dt.strftime(ISO_UTC_FORMAT).where(times.notna(), "")


def format_date(times: pd.Series) -> pd.Series:
    return times.dt.strftime("%Y-%m-%d").where(times.notna(), "")
