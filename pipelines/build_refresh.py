"""An incremental refresh (`retention build --incremental`): a build that starts from a copy of the previous
database and recomputes only the interactions and panel rows the changed inputs can reach; everything that
aggregates across accounts (the marts, the audits, the models) is made whole as in a full build. Its tables equal a
full build's of the same inputs (tests/test_refresh.py), and where that cannot be shown the build is a full one and
says why.

Which rows are recomputed:
- An account whose rows changed, by the digests every build stores in input_digests: all of its interactions and
  panel rows for a change to its accounts or MRR rows or to an interaction created before the last months
  (settled_before); for a change to its recent interactions only (a ticket resolved since), its rows from the
  month before the first changed month on, as below.
- An account active at the previous as-of date, one with interactions appended to the file, or one with a time
  after the previous as-of date: its panel rows from the month of the earliest of those on, and the interactions
  those rows' trailing windows read, each interaction's repeat-contact outcome that a new contact may decide, and
  what was unknown at the previous as-of date.
- Interactions without an account, always (they are rejects).
Every other account's rows are the previous build's, which the same SQL on the same rows made. The panel itself is
made of the recomputed account-months alone: once the MRR by month (made whole) has read every account-month span,
the refresh keeps only the spans it recomputes.

The refresh is a full build when there is no previous database, or it was made by another version of the tables,
the tool, DuckDB or the plan's SQL, on another engine, with other settings the data depends on or from other files;
when rows were removed from the interactions file, the as-of date moved back, the calendar's first month moved, an
interaction id repeats between recomputed and reused rows, or more than MAX_SHARE of the interactions would be
recomputed anyway.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

import duckdb

from . import __version__
from .plan import Plan, Step
from .schema import SCHEMA_VERSION
from .settings import WINDOW_DAYS, BuildSettings
from .sqlrun import (SQL_DIR, TrustedSql, create_table_as, execute_template, file_fragment, identifier, row_count,
                     run_file)

# the tables a refresh keeps the previous build's rows of, beside the rows it recomputes
MERGED_TABLES = ("interaction_metrics", "account_months", "rejected_rows")
# what the scope is read from in the previous build, set aside before the plan replaces it
READ_FROM_PREVIOUS = ("input_digests", "stg_accounts", "calendar_months")
# the interactions, typed: a refresh keeps of them the rows it recomputes, before anything else reads them
REDUCED_TABLE = "typed_interactions"
# the account-month spans: a refresh keeps of them the rows it recomputes before the merged panel is made of them
NARROWED_SPANS = "account_month_spans"
# what the refresh recomputes, in the order each is made (sql/refresh): working tables of the build
SCOPE_TABLES = ("refresh_input_digests", "refresh_changed_accounts", "refresh_accounts", "refresh_rows")
# the inputs' digests as the scope read them: kept past the merge, for this build's own (digests_to_reuse)
SCOPE_DIGESTS = "refresh_input_digests"
# beyond this share of the interactions a full build costs about what the refresh would
MAX_SHARE = 0.5
# the settings the data stages depend on (the models are fitted whole in every build)
DATA_SETTINGS = ("sla_hours", "repeat_contact_days", "churn_reasons_used")


@dataclass
class RefreshOutcome:
    """What a build with --incremental did: a refresh, or a full build and why."""

    incremental: bool
    reason: str = ""
    interactions_recomputed: int = 0
    interactions_total: int = 0
    accounts_recomputed: int = 0
    accounts_changed: int = 0

    def sentence(self) -> str:
        if not self.incremental:
            return f"Full build, not a refresh: {self.reason}."
        share = self.interactions_recomputed / self.interactions_total if self.interactions_total else 0.0
        return (f"Incremental refresh of the previous build: recomputed {self.interactions_recomputed:,} of "
                f"{self.interactions_total:,} interactions ({share:.1%}) and the recent panel rows of "
                f"{self.accounts_recomputed:,} accounts (all of them for the {self.accounts_changed:,} whose accounts "
                "or MRR rows or older interactions changed); the marts, audits and models were made whole.")


def settled_before(as_of: date) -> date:
    """The first day whose interactions a build's digests count by the month they were created in: two months before
    the as-of month. A refresh recomputes an account changed only in those months from the month before the change;
    a change to an earlier interaction recomputes it whole. An export rewrites recent tickets (resolved since), seldom
    older ones."""
    month = as_of.month - 3
    return date(as_of.year + month // 12, month % 12 + 1, 1)


def plan_sha256() -> str:
    """A digest of every SQL file the build runs: another plan may make other rows of the same inputs."""
    digest = hashlib.sha256()
    for path in sorted(SQL_DIR.rglob("*.sql")):
        digest.update(path.relative_to(SQL_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def previous_build_problem(db_path: Path, settings: BuildSettings, data_settings: dict, inputs: dict[str, str | None],
                           engine: str) -> str | None:
    """Why the database at `db_path` cannot be the start of a refresh, or None. `data_settings`: this build's settings
    as build_info.settings_json records them (of which DATA_SETTINGS are compared); `inputs`: each source's path as
    build_info records it."""
    if engine != "duckdb":
        return f"a refresh runs on the duckdb engine, not {engine}"
    if not db_path.exists():
        return f"there is no previous database at {db_path}"
    if db_path.with_name(db_path.name + ".wal").exists():
        return f"the previous database {db_path} has changes not yet written (a .wal file beside it)"
    try:
        con = duckdb.connect(str(db_path), read_only=True)
    except duckdb.Error as error:
        return f"the previous database {db_path} cannot be opened: {error}"
    try:
        tables = {row[0] for row in run_file(con, "refresh", "previous_tables").fetchall()}
        needed = {"build_info", "refresh_basis", *MERGED_TABLES, *READ_FROM_PREVIOUS}
        if not needed <= tables:
            return f"the previous database has no {', '.join(sorted(needed - tables))} (made by an older version)"
        (schema_version, tool_version, duckdb_version, previous_settings,
         previous_inputs) = run_file(con, "refresh", "previous_build_info").fetchone()
        basis = run_file(con, "refresh", "previous_refresh_basis").fetchone()
    finally:
        con.close()
    if schema_version != SCHEMA_VERSION:
        return f"the previous database has tables of version {schema_version}, this build makes {SCHEMA_VERSION}"
    if (tool_version, duckdb_version) != (__version__, duckdb.__version__):
        return (f"the previous build was made by version {tool_version} with DuckDB {duckdb_version}, this is "
                f"{__version__} with DuckDB {duckdb.__version__}")
    if basis is None or not basis[2]:
        return "the previous build stored no digests of its inputs (its inputs were read by Spark)"
    if basis[0] != plan_sha256():
        return "the previous build ran other SQL (the plan changed since)"
    if basis[1] != "duckdb":
        return f"the previous build ran on the {basis[1]} engine"
    previous_settings = json.loads(previous_settings)
    for name in DATA_SETTINGS:
        if previous_settings.get(name) != data_settings.get(name):
            return f"the setting {name} differs from the previous build's"
    if settings.repeat_contact_days > WINDOW_DAYS:
        return "the repeat-contact window is longer than the service measures' trailing window"
    previous_paths = {i["source"]: i["path"] for i in json.loads(previous_inputs)}
    for source, path in inputs.items():
        if previous_paths.get(source) != path:
            return f"the {source} input is not the previous build's file ({previous_paths.get(source) or 'none'})"
    return None


@dataclass
class Refresh:
    """One refresh, on the connection to the copy of the previous database the build writes."""

    con: duckdb.DuckDBPyConnection
    plan: Plan
    previous_as_of: date = date.min
    # the previous build's: its digests count interactions by month from it on
    previous_settled_before: date = date.min
    outcome: RefreshOutcome = field(default_factory=lambda: RefreshOutcome(incremental=True))
    _active: bool = True
    _scoped: bool = False
    _narrowed: bool = False
    # the interactions the previous build read, whose digests the scope made (SCOPE_DIGESTS) once it has
    _previous_rows: int | None = None

    @classmethod
    def start(cls, con: duckdb.DuckDBPyConnection, plan: Plan) -> "Refresh":
        """Set the previous build's rows aside under previous_<table> (what is merged, and what the scope reads)
        and drop every other table, so the plan makes them as in a fresh file (the checkpoint frees their space for
        the tables the build writes, so the file grows no more than the rows it recomputes)."""
        refresh = cls(con, plan)
        refresh.previous_as_of = run_file(con, "refresh", "previous_as_of").fetchone()[0]
        refresh.previous_settled_before = run_file(con, "refresh", "previous_settled_before").fetchone()[0]
        kept = set(MERGED_TABLES) | set(READ_FROM_PREVIOUS)
        for name, kind in run_file(con, "refresh", "previous_objects").fetchall():
            if name in kept:
                execute_template(con, "rename_table", table=identifier(name), new_name=identifier(f"previous_{name}"))
            else:
                execute_template(con, "drop_if_exists", object=TrustedSql(kind), target=identifier(name))
        con.checkpoint()
        return refresh

    # -- the loop's three moments ------------------------------------------------------------------

    def moment(self, step: Step) -> str | None:
        """What the refresh does before `step` of the plan's loop, if anything: "scope" before the first step reading
        the typed interactions (it keeps only those it recomputes), "narrow" before a merged table is made from the
        account-month spans (it keeps only the spans it recomputes), "merge" before the first step aggregating across
        accounts (the previous rows join the recomputed ones)."""
        if not self._active:
            return None
        if not self._scoped and REDUCED_TABLE in step.reads:
            return "scope"
        if self._scoped and not self._narrowed and _merged_from_spans(step):
            return "narrow"
        if self._scoped and step.layer_dir >= "40":
            return "merge"
        return None

    def run(self, moment: str, params: dict, remake: Callable[[Step], int]) -> int:
        """Do `moment`: the interaction rows it recomputes (scope), the spans it recomputes (narrow), or the
        interactions once merged (merge)."""
        if moment == "scope":
            self._scoped = True
            self._scope(params)
            return self.outcome.interactions_recomputed
        if moment == "narrow":
            self._narrowed = True
            run_file(self.con, "refresh", "narrow_account_month_spans")
            return row_count(self.con, NARROWED_SPANS)
        self._merge(remake)
        self._active = False
        return self.outcome.interactions_total

    def _scope(self, params: dict) -> None:
        con = self.con
        previous_rows = run_file(con, "refresh", "previous_interaction_rows").fetchone()[0]
        refresh_params = {**params, "previous_as_of": self.previous_as_of, "window_days": WINDOW_DAYS,
                          "previous_interaction_rows": previous_rows, "interaction_rows": previous_rows,
                          "after_row": 0, "interactions_only": False, "settled_before": self.previous_settled_before}
        reason = self._reason_for_full_build(params, refresh_params)
        if reason is None:
            digests = file_fragment("refresh", "input_digest_rows")
            for name in SCOPE_TABLES:
                slots = {"input_digest_rows": digests} if name == SCOPE_DIGESTS else {}
                create_table_as(con, name, file_fragment("refresh", name, **slots), refresh_params, temporary=True)
            total = run_file(con, "refresh", "typed_interaction_count").fetchone()[0]
            recomputed = run_file(con, "refresh", "refresh_row_count").fetchone()[0]
            repeat = run_file(con, "refresh", "repeated_id_across_scope").fetchone()
            if repeat is not None:
                reason = (f"interaction id {repeat[0]!r} is on row {repeat[1]:,}, which is recomputed, and on row "
                          f"{repeat[2]:,}, which would be reused")
            elif total and recomputed > MAX_SHARE * total:
                reason = (f"{recomputed / total:.0%} of the interactions would be recomputed, over the "
                          f"{MAX_SHARE:.0%} beyond which a full build costs about as much")
            else:
                accounts, changed = run_file(con, "refresh", "refresh_account_counts").fetchone()
                self.outcome = RefreshOutcome(True, "", recomputed, total, accounts, changed)
                create_table_as(con, REDUCED_TABLE, file_fragment("refresh", "reduced_typed_interactions"), {},
                                temporary=True)
                self._previous_rows = previous_rows
                return
        self._fall_back(reason)

    def _reason_for_full_build(self, params: dict, refresh_params: dict) -> str | None:
        """What makes the previous rows unusable, found once the inputs are typed: None when nothing does."""
        as_of = params["as_of"]
        if as_of < self.previous_as_of:
            return f"the as-of date {as_of} is before the previous build's ({self.previous_as_of})"
        rows = run_file(self.con, "refresh", "interaction_row_count").fetchone()[0]
        if rows < refresh_params["previous_interaction_rows"]:
            return (f"the interactions input has {rows:,} rows, fewer than the "
                    f"{refresh_params['previous_interaction_rows']:,} the previous build read (rows were removed)")
        first, previous_first = run_file(self.con, "refresh", "calendar_first_months").fetchone()
        if first != previous_first:
            return (f"the first signup month moved from {previous_first} to {first}, which renumbers every "
                    "account's months")
        return None

    def _fall_back(self, reason: str) -> None:
        self.outcome = RefreshOutcome(False, reason)
        self._active = False
        self._drop_previous(MERGED_TABLES)
        self._drop_previous(READ_FROM_PREVIOUS)
        self._drop_scope()

    def _drop_scope(self, keep: tuple[str, ...] = ()) -> None:
        for name in SCOPE_TABLES:
            if name not in keep:
                execute_template(self.con, "drop_if_exists", object=TrustedSql("table"), target=identifier(name))

    def _merge(self, remake: Callable[[Step], int]) -> None:
        """The previous rows of every merged table, but those recomputed, joined to the recomputed ones; then the
        staged tables counting them made again."""
        con = self.con
        for name in MERGED_TABLES:
            run_file(con, "refresh", f"forget_{name}")
            execute_template(con, "insert_query_rows", {}, table=identifier(f"previous_{name}"),
                             query=file_fragment("refresh", f"recomputed_{name}"))
            execute_template(con, "drop_if_exists", object=TrustedSql("table"), target=identifier(name))
            execute_template(con, "rename_table", table=identifier(f"previous_{name}"), new_name=identifier(name))
        for step in remade_steps(self.plan):
            remake(step)
        self._drop_previous(READ_FROM_PREVIOUS)
        self._drop_scope(keep=(SCOPE_DIGESTS,))

    def _drop_previous(self, names) -> None:
        for name in names:
            execute_template(self.con, "drop_if_exists", object=TrustedSql("table"),
                             target=identifier(f"previous_{name}"))

    def digests_to_reuse(self, as_of: date) -> int | None:
        """The number of interactions whose digests this build's input_digests can take from the scope's
        (SCOPE_DIGESTS), adding only those of the rows appended after them; None when it must read every row: no
        refresh was made, or the month from which interactions count by month moved with the as-of date."""
        if self._previous_rows is None or settled_before(as_of) != self.previous_settled_before:
            return None
        return self._previous_rows

    def release(self) -> None:
        """Drop what the refresh kept for the build's record (SCOPE_DIGESTS), once the record is made."""
        self._previous_rows = None
        execute_template(self.con, "drop_if_exists", object=TrustedSql("table"), target=identifier(SCOPE_DIGESTS))

    def finish(self) -> None:
        """After the loop: a refresh that never reached its merge (a plan whose loop ends in the panel) would leave
        tables half made, so that is an error, not a quiet full build."""
        if self._active:
            raise RuntimeError("the refresh never merged the previous rows: the plan has no step after the panel")


def working_tables_read(plan: Plan) -> dict[str, int]:
    """The working tables a refresh reads itself, as table -> the position of the loop's step before which it reads
    them: every one made by then at its scope (its queries read the typed inputs and what the staging made of them),
    and those the steps it makes again read at its merge (the view of the metrics standing for the staged rows by
    then). The build drops a working table only once these reads are done too."""
    loop = plan.loop
    scope = next((i for i, s in enumerate(loop) if REDUCED_TABLE in s.reads), len(loop))
    merge = next((i for i, s in enumerate(loop) if s.layer_dir >= "40"), len(loop))
    working = set(plan.dropped)
    reads = {name: scope for name in working}
    for step in remade_steps(plan):
        for name in plan.reads_through_views(step.reads, merge) & working:
            reads[name] = max(reads[name], merge)
    return reads


def remade_steps(plan: Plan) -> list[Step]:
    """The kept tables before the marts that count the narrowed interactions but are not merged (the load report):
    made again once the merged tables are whole."""
    reduced = _reading(plan, REDUCED_TABLE)
    return [s for s in plan.loop if s.layer_dir < "40" and s.kind == "table" and s.made_by is None
            and s.name in reduced and s.name not in MERGED_TABLES]


def refresh_problems(plan: Plan) -> list[str]:
    """What in the plan a refresh cannot merge: a working table made from the narrowed interactions that a step
    after the panel reads, or a step after the merged panel that reads the narrowed spans (either would hold only
    the recomputed rows)."""
    reduced = _reading(plan, REDUCED_TABLE)
    working = {s.name for s in plan.loop if s.kind == "temporary" and s.name in reduced and s.layer_dir < "40"}
    problems = [f"{s.name} reads the working table {name}, which a refresh holds in part"
                for s in plan.loop if s.layer_dir >= "40" for name in s.reads if name in working]
    narrowed_at = next((i for i, s in enumerate(plan.loop) if _merged_from_spans(s)), len(plan.loop))
    return problems + [f"{s.name} reads {NARROWED_SPANS} after a refresh keeps only the spans it recomputes"
                       for s in plan.loop[narrowed_at + 1:] if NARROWED_SPANS in s.reads]


def _merged_from_spans(step: Step) -> bool:
    """Whether `step` makes a merged table from the account-month spans: before it, a refresh narrows them."""
    return step.name in MERGED_TABLES and NARROWED_SPANS in step.reads


def _reading(plan: Plan, table: str) -> set[str]:
    """The steps reading `table`, directly or through other steps before the marts (a view that replaces a working
    table reads the table it is made from, already merged)."""
    found = {table}
    for step in plan.loop:
        if step.layer_dir < "40" and step.replaces is None and any(r in found for r in step.reads):
            found.add(step.name)
    return found - {table}


def copy_previous(db_path: Path, temp_path: Path) -> None:
    """The previous database, copied to where the new build is written (the previous file stays as it is)."""
    shutil.copyfile(db_path, temp_path)
