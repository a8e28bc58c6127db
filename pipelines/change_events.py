"""The support changes a team records, to evaluate after the fact and to mark on the trend charts.

An events file is a CSV with a header: `name` (what the change was), `date` (YYYY-MM-DD, when it reached the
accounts), `treated` (the accounts it reached, as the app's filters write them, e.g. `region=EMEA`; several joined
by ` and `; empty when it reached every account). A change rolled out in steps has one row per step, all with its
name: each step its own date and its own accounts (a staggered rollout). `retention demo` writes one beside its
data, and the app reads the `events.csv` beside the accounts file a build read.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .errors import InputError

EVENTS_FILE_NAME = "events.csv"
COLUMNS = ("name", "date", "treated")
# several filters in one cell: the same word the sentences use, since a comma is the CSV's own separator
FILTER_JOINER = " and "


@dataclass(frozen=True)
class Rollout:
    """One step of a change: the date it reached these accounts (`treated`: filter texts, empty for everyone)."""

    start: date
    treated: tuple[str, ...]


@dataclass(frozen=True)
class ChangeEvent:
    """A recorded change: its name and its steps, earliest first."""

    name: str
    rollouts: tuple[Rollout, ...]

    @property
    def start(self) -> date:
        return self.rollouts[0].start

    @property
    def is_staggered(self) -> bool:
        return len({rollout.start for rollout in self.rollouts}) > 1

    @property
    def reached_everyone(self) -> bool:
        return any(not rollout.treated for rollout in self.rollouts)


def treated_filters(cell: str) -> tuple[str, ...]:
    """A `treated` cell's filter texts (empty: every account)."""
    return tuple(part.strip() for part in cell.split(FILTER_JOINER) if part.strip())


def read_events(path: Path | str) -> list[ChangeEvent]:
    """The changes in an events file, in the order of their first row. InputError naming the file, the row and the
    column for anything that cannot be used: a missing column, an empty name, a date that is not YYYY-MM-DD, two
    steps of one change on one date, or one change reaching every account in one step and some in another."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(path, "no events file here") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(path, f"cannot be read as UTF-8 text ({error})") from None
    reader = csv.DictReader(text.splitlines())
    header = [column.strip().lower() for column in reader.fieldnames or []]
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise InputError(path, f"the header lacks {', '.join(missing)} (it needs name, date, treated)", row=1,
                         column=missing[0])
    reader.fieldnames = header
    steps: dict[str, list[Rollout]] = {}
    for row_number, row in enumerate(reader, start=2):
        name = (row.get("name") or "").strip()
        if not name:
            raise InputError(path, "every change needs a name", row=row_number, column="name")
        written = (row.get("date") or "").strip()
        try:
            start = date.fromisoformat(written)
        except ValueError:
            raise InputError(path, f"{written!r} is not a date (YYYY-MM-DD)", row=row_number, column="date") from None
        rollout = Rollout(start, treated_filters(row.get("treated") or ""))
        earlier = steps.setdefault(name, [])
        if any(step.start == start for step in earlier):
            raise InputError(path, f"{name!r} has two steps on {start:%Y-%m-%d}; give a step's accounts in one row "
                             f"(several filters joined by '{FILTER_JOINER.strip()}')", row=row_number, column="date")
        if earlier and (not rollout.treated or any(not step.treated for step in earlier)):
            raise InputError(path, f"{name!r} reaches every account in one step and some in another; a change that "
                             "reached everyone has one row", row=row_number, column="treated")
        earlier.append(rollout)
    return [ChangeEvent(name, tuple(sorted(rollouts, key=lambda step: step.start)))
            for name, rollouts in steps.items()]


def find_event(events: list[ChangeEvent], name: str, path: Path | str) -> ChangeEvent:
    """The change called `name` (InputError listing the names the file has)."""
    for event in events:
        if event.name == name:
            return event
    listed = ", ".join(repr(event.name) for event in events) or "none"
    raise InputError(path, f"no change called {name!r}; the file has {listed}")


def events_beside(accounts_path: Path | str) -> Path:
    """Where the events of a build whose accounts file is `accounts_path` are kept."""
    return Path(accounts_path).parent / EVENTS_FILE_NAME
