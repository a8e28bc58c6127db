"""The audits: queries of sql/50_audits that return the rows breaking a rule the built tables promise. They run
after every table of the plan and before the models (no audit reads a model table: pipelines/plan.py checks), so a
bad build fails before the long part of it."""

from __future__ import annotations

from typing import Iterable

import duckdb

from .build_result import BuildError
from .plan import AUDITS_DIR, read_plan
from .sqlrun import sql_text

# The offending rows an audit's failure shows
ROWS_SHOWN = 5


class AuditError(BuildError):
    """An audit query returned rows: the built tables break one of their stated rules."""


def audit_names() -> list[str]:
    return [audit.name for audit in read_plan().audits]


def run_audits(con: duckdb.DuckDBPyConnection, names: Iterable[str] | None = None) -> int:
    """Run the audits (every one, unless named): how many ran; AuditError with the offending rows of each one
    that failed."""
    names = list(audit_names() if names is None else names)
    failures = []
    for name in names:
        relation = con.execute(sql_text(AUDITS_DIR, name))
        columns = [d[0] for d in relation.description]
        rows = relation.fetchmany(ROWS_SHOWN)
        if rows:
            shown = "\n".join("    " + ", ".join(f"{c}={v!r}" for c, v in zip(columns, row)) for row in rows)
            failures.append(f"audit {name} failed; first offending rows:\n{shown}")
    if failures:
        raise AuditError("\n".join(failures))
    return len(names)
