"""What a build reports while it runs (a StageEvent per step) and what it returns (BuildResult), or BuildError."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable


class BuildError(RuntimeError):
    """The build could not finish on inputs it had accepted; the previous database is untouched. Not a
    RetentionError (errors.py): the person cannot fix it by changing what they gave, so the CLI exits 1 for it."""


@dataclass
class StageEvent:
    stage: str
    table: str
    rows: int
    seconds: float


@dataclass
class BuildResult:
    db_path: Path
    build_id: str
    as_of: date
    seconds: float
    table_rows: dict[str, int]
    load_report: list[dict]
    reject_summary: list[dict]
    warnings: list[str] = field(default_factory=list)
    # the churn reasons the reasons file does not map (counted under its other cause) and the churns with no reason
    churn_reasons_not_listed: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # a build with --incremental: whether it refreshed the previous build or built whole, in one sentence
    refresh: str = ""


class Progress:
    """Times a piece of work and tells the caller's callback (the CLI prints each stage with rows and seconds)."""

    def __init__(self, callback: Callable[[StageEvent], None] | None):
        self.callback = callback

    def run(self, stage: str, table: str, work: Callable[[], int]) -> int:
        started = time.perf_counter()
        rows = work()
        if self.callback:
            self.callback(StageEvent(stage, table, rows, time.perf_counter() - started))
        return rows
