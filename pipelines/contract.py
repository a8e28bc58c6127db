"""The input data contract: which files a user brings, their columns, and the kind of value each holds.

The typing lives in `sql/10_staging/typed_accounts.sql`, `typed_interactions.sql` and `typed_mrr_history.sql`,
and the rules each value obeys (a row dropped or a value emptied, and why) in `account_rejects.sql`,
`interaction_rejects.sql` and `mrr_history_rejects.sql` beside them; docs/data-contract.md says them in
words. This module names the columns so the loader can map a file's headers onto them (case-insensitively)
and report what is missing. Anything in the accounts file that is not a contract column is a segment attribute.
"""

from __future__ import annotations

from dataclasses import dataclass


# What a column holds. The staging SQL types text of every kind; a Parquet column whose own type already
# is of the kind (NATIVE_TYPES) reaches it untouched, so the build does not print and re-parse it.
KINDS = ("id", "text", "timestamp", "date", "month", "number", "boolean")
_TEMPORAL = ("DATE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE")
_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")
NATIVE_TYPES = {
    "id": ("VARCHAR",),
    "text": ("VARCHAR",),
    "timestamp": _TEMPORAL,
    "date": _TEMPORAL,
    "month": _TEMPORAL,
    "number": (*_INTEGERS, "FLOAT", "DOUBLE", "DECIMAL"),
    "boolean": ("BOOLEAN",),
}


# The text shapes the staging SQL parses, bound as $iso_timestamp_pattern and $plain_number_pattern: ISO 8601
# (YYYY-MM-DD, a time and an offset optional) and plain decimal numbers. Beyond them DuckDB and Spark disagree
# (DuckDB takes 2024/03/05, 24:00 and 1_000, Spark takes 2024, 2024-03-05T10, 1d and 1f), and the rejects must
# not depend on the engine. Bound values are constants to the planner: the regex is compiled once per query.
ISO_TIMESTAMP_PATTERN = (r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([T ]([01]?[0-9]|2[0-3]):[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)?"
                         r"( ?(Z|UTC|[+-][0-9]{2}(:?[0-9]{2})?))?$")
PLAIN_NUMBER_PATTERN = r"^ *[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)? *$"


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    kind: str = "text"

    def accepts_native(self, duckdb_type: str) -> bool:
        """Whether a Parquet column of this DuckDB type can reach the staging SQL without going through text."""
        base = duckdb_type.split("(")[0].strip().upper()  # DECIMAL(14,2) -> DECIMAL
        return base in NATIVE_TYPES[self.kind]


@dataclass(frozen=True)
class Source:
    name: str
    columns: tuple[Column, ...]
    # accounts with a header and no rows leave nothing to analyse; interactions may be empty.
    may_be_empty: bool
    # extra columns become segment attributes (accounts) or are ignored (the others, with a note).
    extra_columns_are_segments: bool = False

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


ACCOUNTS = Source(
    name="accounts",
    may_be_empty=False,
    extra_columns_are_segments=True,
    columns=(
        Column("account_id", True, "id"),
        Column("signup_date", True, "date"),
        Column("churn_date", True, "date"),
        Column("mrr", True, "number"),
        # free text, as the billing tool writes it; the reasons file maps it to a cause (churn_reasons.py)
        Column("churn_reason", False),
    ),
)

INTERACTIONS = Source(
    name="interactions",
    may_be_empty=True,
    columns=(
        Column("interaction_id", True, "id"),
        Column("account_id", True, "id"),
        Column("created_at", True, "timestamp"),
        Column("first_response_at", False, "timestamp"),
        Column("resolved_at", False, "timestamp"),
        Column("channel", False),
        Column("severity", False),
        Column("csat", False, "number"),
        Column("reopens", False, "number"),
        Column("handoffs", False, "number"),
        Column("escalated", False, "boolean"),
        Column("agent_updates", False, "number"),
        Column("credit_amount", False, "number"),
    ),
)

MRR_HISTORY = Source(
    name="mrr_history",
    may_be_empty=True,
    columns=(
        Column("account_id", True, "id"),
        Column("month", True, "month"),
        Column("mrr", True, "number"),
    ),
)

SOURCES = {s.name: s for s in (ACCOUNTS, INTERACTIONS, MRR_HISTORY)}

# Names the build creates beside the segment columns in account_months and account_survival;
# a segment column with one of these names is renamed "<name> (input)" so neither is lost.
BUILT_COLUMN_NAMES = frozenset(
    """account_id signup_date churn_date churn_reason churn_cause mrr month_start start_day stop_day churned duration_days
    signup_cohort_month tickets_90d high_priority_share_90d live_channel_share_90d first_response_hours_median resolution_hours_median
    sla_breach_rate csat_mean reopen_rate handoff_rate escalation_rate repeat_contact_rate agent_update_rate
    credits_90d bad_interactions_90d credited_bad_interactions_90d n_interactions_lifetime
    first_response_hours_median_lifetime resolution_hours_median_lifetime csat_mean_lifetime
    reopen_rate_lifetime sla_breach_rate_lifetime credits_lifetime""".split()
)
