"""The build's plan, read from the SQL files: what each file makes, how, on which engines, and in what order.

A file under `sql/` whose header states a `kind` is a table or view the build makes; every file of the layer
folders does (the audits' folder aside), and so does `queries/account_risk_table.sql`, whose columns the risk model
chooses. The header is the file's leading `--` lines. A line `-- <key>: <value>` with one of the keys below tells
the build something; any other line is prose, the grain's text going on:

    grain:      what one row is (every table and view)
    kind:       table      kept in the database: a user or the app reads it
                temporary  a working table that only feeds later steps, dropped once no later step reads it
                view       kept as a view; one that replaces a working table (or an earlier view) stands for it
                           (users read it as a table and the build counts its rows); an earlier view feeds later
                           steps until then; the others are selections the app replaces in its own session
    engines:    duckdb, spark: where the file may run (default duckdb). A Spark build runs it on Spark when spark
                is listed, else on DuckDB. A file lists spark where the parity test (tests/test_spark_parity.py)
                shows Spark gives DuckDB's rows; a file with template slots is filled and run on DuckDB
    parts:      <table>: built in parts of the accounts, one part per ROWS_PER_PART rows of <table>; the query
                keeps the accounts of $part of $n_parts (on Spark it is built whole)
    on spark:   parquet view: a Spark build leaves the table as Parquet and the database reads it through a view,
                rather than holding a copy
    made by:    the file only defines the table; Python fills it. load: as the inputs are read, before every step;
                settings: from the build's settings and the inputs' columns; segments: from the accounts file's
                extra columns; models: the models, after the audits; build: at the end, what the build was given
    depends on: <table>, ...: tables its step reads that its SQL does not show (as dbt's `-- depends_on`)
    replaces:   <table>: the view takes the place of that working table (or view) once every step reading it ran

What a step reads is read from its SQL by DuckDB's own parser (the files are DuckDB SQL; sqlglot, which the Spark
engine needs, is an optional extra), so the order is derived, never listed: a step runs after every step making a
table it reads; among the steps ready to run the first by layer folder, then depth (the steps before it on its
longest chain of reads), then file name. A step binding $as_of also reads what the as-of query (AS_OF_QUERY)
reads, since the default as-of date is computed from them.

`python -m pipelines.plan --catalogue` writes the table catalogue (docs/tables.md) from the same headers.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import duckdb

from .contract import ACCOUNTS, INTERACTIONS, MRR_HISTORY
from .sqlrun import PARAM_PATTERN, SLOT_PATTERN, SQL_DIR, run_file, sql_text, without_comment_lines

KINDS = ("table", "temporary", "view")
ENGINES = ("duckdb", "spark")
# made by: the Python that fills a file's table, and when it runs. "settings" and "segments" run in the loop, in
# the derived order like any file; the others are the build's fixed moments around it.
MAKERS = {
    "load": "as the inputs are read, before every step",
    "settings": "from the build's settings and the inputs' columns",
    "segments": "from the accounts file's extra columns",
    "models": "as the models are fitted, after the audits",
    "build": "at the end, from what the build was given and made",
}
LOOP_MAKERS = ("settings", "segments")
KEYS = ("grain", "kind", "engines", "parts", "on spark", "made by", "depends on", "replaces")
KEY_LINE = re.compile(r"^--\s*(" + "|".join(KEYS) + r"):\s*(.*?)\s*$")
AUDITS_DIR = "50_audits"
# The default as-of date, the latest date in the inputs: the steps binding $as_of wait for what it reads
AS_OF_QUERY = "latest_input_date"
# The stage a layer folder's steps are reported under (`retention build` prints each with rows and seconds)
STAGES = {"10_staging": "staging", "20_metrics": "metrics", "30_panel": "panel", "40_marts": "marts"}


class PlanError(ValueError):
    """A SQL file's header or references do not make a plan: unknown key value, a table nobody makes, a cycle."""


def input_tables() -> tuple[str, ...]:
    """What the loader makes of each input (load.py): raw_<source>, its columns as read, and src_<source>, the
    contract's columns as text; the build's SQL starts from these."""
    return tuple(f"{prefix}_{source.name}" for source in (ACCOUNTS, INTERACTIONS, MRR_HISTORY)
                 for prefix in ("raw", "src"))


@dataclass(frozen=True)
class Step:
    """One file of the plan: the table or view `name` it makes from `sql/<layer_dir>/<file>.sql`."""

    name: str
    layer_dir: str
    file: str
    kind: str
    grain: str
    engines: tuple[str, ...]
    is_query: bool  # one SELECT the build makes a table of; otherwise the file is a statement run as it is
    reads: tuple[str, ...]
    params: tuple[str, ...]
    slots: tuple[str, ...]
    parts: str | None = None
    parquet_view: bool = False
    made_by: str | None = None
    replaces: str | None = None

    @property
    def path(self) -> str:
        return f"sql/{self.layer_dir}/{self.file}.sql"

    @property
    def stage(self) -> str | None:
        """The stage `retention build` reports this step under, or None for one it does not report."""
        return STAGES.get(self.layer_dir)

    def engine(self, build_engine: str) -> str:
        """Where this step runs in a build on `build_engine`."""
        return "spark" if build_engine == "spark" and "spark" in self.engines and self.made_by is None else "duckdb"


@dataclass(frozen=True)
class Audit:
    """An audit query of `sql/50_audits`: the rows breaking a rule the built tables promise."""

    name: str
    rule: str
    reads: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]  # every file with a kind: the loop's in build order, then the load's, models', build's
    audits: tuple[Audit, ...]

    @property
    def loop(self) -> tuple[Step, ...]:
        """The steps the build's one loop runs, in order: every file but those the load, models and build fill."""
        return tuple(s for s in self.steps if s.made_by is None or s.made_by in LOOP_MAKERS)

    def made_by(self, maker: str) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.made_by == maker)

    def step(self, name: str) -> Step:
        """The step making table `name` (a working table, not the view that later replaces it)."""
        for step in self.steps:
            if step.name == name and step.replaces is None:
                return step
        raise KeyError(name)

    @property
    def kept(self) -> tuple[str, ...]:
        """The tables a user reads, in build order: each kept table, and each working table a kept view stands for.
        The build counts their rows (build_info) and a Spark build keeps them in its output folder."""
        return tuple(s.replaces or s.name for s in self.steps
                     if s.kind == "table" or (s.kind == "view" and s.replaces))

    @property
    def dropped(self) -> tuple[str, ...]:
        """The working tables, every one dropped by the build's end (most once no later step reads them)."""
        replaced = {s.replaces for s in self.steps}
        return tuple(s.name for s in self.steps if s.kind == "temporary" and s.name not in replaced)

    @property
    def parquet_views(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps if s.parquet_view)

    def reads_through_views(self, names, position: int) -> set[str]:
        """`names` and, for each that is a view when the loop reaches `position`, what the view reads (in turn): the
        tables a step at that position reads."""
        made = {s.name: s for s in self.steps if s.made_by is not None and s.made_by not in LOOP_MAKERS}
        made.update((s.name, s) for s in self.loop[:position])
        found: set[str] = set()
        todo = list(names)
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                maker = made.get(name)
                if maker is not None and maker.kind == "view":
                    todo.extend(maker.reads)
        return found

    def working_tables_done(self, read_before: dict[str, int] | None = None) -> dict[int, tuple[str, ...]]:
        """The working tables the build can drop once the loop's step at each position ran: no later step reads
        them, directly or through a view, nor the as-of query (run before the first step binding $as_of, or after
        the loop when none does). Held to the end, they would take memory the panel's steps need at scale.
        `read_before`: further reads, as table -> the position of the step before which they happen. A working table
        a view replaces is not among them: by then its name is the view's."""
        working = set(self.dropped)
        last = {name: position for name, position in (read_before or {}).items() if name in working}
        as_of_read = False
        for position, step in enumerate(self.loop):
            reads = {*step.reads, *([step.parts] if step.parts else [])}
            if "as_of" in step.params and not as_of_read:
                reads |= set(query_reads(AS_OF_QUERY))
                as_of_read = True
            for name in self.reads_through_views(reads, position) | {step.name}:
                if name in working:
                    last[name] = max(last.get(name, position), position)
        if not as_of_read:
            for name in query_reads(AS_OF_QUERY):
                last[name] = len(self.loop)
        done: dict[int, list[str]] = {}
        for name, position in sorted(last.items()):
            done.setdefault(position, []).append(name)
        return {position: tuple(names) for position, names in done.items()}

    def upstream(self, names: list[str] | tuple[str, ...]) -> tuple[Step, ...]:
        """The loop's steps that `names` need, themselves included, in build order."""
        makers = {s.name: s for s in self.loop if s.replaces is None}
        wanted, todo = set(), list(names)
        while todo:
            step = makers.get(todo.pop())
            if step is not None and step.name not in wanted:
                wanted.add(step.name)
                todo.extend(step.reads)
        return tuple(s for s in self.loop if s.name in wanted and s.replaces is None)


# --- reading a file ------------------------------------------------------------------------------


def header(text: str) -> tuple[dict[str, str], str]:
    """The keys of a file's header and its prose (the grain's text, with the lines that go on from it)."""
    keys: dict[str, str] = {}
    prose: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        match = KEY_LINE.match(line)
        if match:
            key, value = match.groups()
            if key in keys:
                raise PlanError(f"key {key!r} given twice")
            keys[key] = value
            current = key
            prose[key] = [value]
        elif current is not None:
            prose[current].append(line.removeprefix("--").strip())
        else:
            prose.setdefault("", []).append(line.removeprefix("--").strip())
    return keys, " ".join(prose.get("grain", prose.get("", [])))


def _names(value: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in value.split(",") if n.strip()) if value else ()


STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")


def slots(code: str) -> tuple[str, ...]:
    """A template's `{slot}`s: those outside string literals (a reject reason's '{detail}' is text of its own)."""
    return tuple(dict.fromkeys(SLOT_PATTERN.findall(STRING_LITERAL.sub("''", code))))


def _placeholders(code: str) -> str:
    """A template's slots as one column each (a slot holds columns the build chooses, never a table), so the
    parser reads its tables: `, null` where the slot goes on from a column list, `null` where it stands alone."""
    wanted = slots(code)
    return SLOT_PATTERN.sub(lambda m: m.group(0) if m.group(1) not in wanted else
                            ", null" if re.search(r"[\w)\"}]$", code[:m.start()]) else "null", code)


def _parsed(connection: duckdb.DuckDBPyConnection, query: str, where: str) -> dict:
    tree = json.loads(run_file(connection, "queries", "parsed_query", {"query": query}).fetchone()[0])
    if tree.get("error"):
        raise PlanError(f"{where}: DuckDB cannot parse it: {tree.get('error_message')}")
    return tree


def _tables(node, scope: frozenset[str] = frozenset()) -> set[str]:
    """The tables a parsed query reads (DuckDB's serialised tree): every base table that is not a CTE in scope.
    A CTE sees the CTEs before it; the query under them sees all of them."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= _tables(item, scope)
        return found
    if not isinstance(node, dict):
        return found
    if node.get("type") == "BASE_TABLE" and "table_name" in node:
        if node["table_name"] not in scope or node.get("schema_name"):
            found.add(node["table_name"])
        return found
    ctes = [(entry["key"], entry["value"]) for entry in (node.get("cte_map") or {}).get("map", [])]
    for i, (_, cte) in enumerate(ctes):
        found |= _tables(cte, scope | {name for name, _ in ctes[:i]})
    inner = scope | {name for name, _ in ctes}
    for key, value in node.items():
        if key != "cte_map":
            found |= _tables(value, inner)
    return found


def _statement(connection: duckdb.DuckDBPyConnection, code: str, where: str) -> tuple[bool, str | None, set[str]]:
    """(whether the code is a query, the name a CREATE statement makes, the tables it reads). A CREATE's query, if
    it has one, is what follows its first AS (DuckDB serialises queries only)."""
    tokens = duckdb.tokenize(code)
    words = [code[start:end].strip().lower() for (start, _), (end, _) in zip(tokens, tokens[1:] + [(len(code), None)])]
    if not words or words[0] != "create":
        return True, None, _tables(_parsed(connection, code, where))
    kinds = [i for i, (word, (_, kind)) in enumerate(zip(words, tokens))
             if word in ("table", "view") and kind == duckdb.token_type.keyword]
    names = [i for i, (_, kind) in enumerate(tokens) if kind == duckdb.token_type.identifier and i > kinds[0]]
    created = words[names[0]].strip('"')
    query_at = next((i for i, word in enumerate(words) if word == "as" and i > names[0]), None)
    if query_at is None or query_at + 1 >= len(tokens):
        return False, created, set()
    query = code[tokens[query_at + 1][0]:]
    return False, created, _tables(_parsed(connection, query, where))


def _reads(connection: duckdb.DuckDBPyConnection, text: str, where: str) -> tuple[bool, str | None, set[str]]:
    return _statement(connection, _placeholders(without_comment_lines(text)), where)


def what_sql_reads(sql: str, where: str = "the query") -> tuple[bool, str | None, tuple[str, ...]]:
    """(whether `sql` is a query, the name it creates if it is a CREATE statement, the tables it reads)."""
    with duckdb.connect() as connection:
        is_query, created, reads = _reads(connection, sql, where)
    return is_query, created, tuple(sorted(reads))


@lru_cache(maxsize=None)
def query_reads(name: str) -> tuple[str, ...]:
    """The tables query file `sql/queries/<name>.sql` reads."""
    return what_sql_reads(sql_text("queries", name), f"sql/queries/{name}.sql")[2]


def _step(connection: duckdb.DuckDBPyConnection, path: Path) -> Step | None:
    text = path.read_text(encoding="utf-8")
    where = f"sql/{path.parent.name}/{path.name}"
    try:
        keys, grain = header(text)
    except PlanError as exc:
        raise PlanError(f"{where}: {exc}") from None
    if "kind" not in keys:
        return None
    is_query, created, reads = _reads(connection, text, where)
    code = without_comment_lines(text)
    step = Step(
        name=created or path.stem, layer_dir=path.parent.name, file=path.stem, kind=keys["kind"], grain=grain,
        engines=_names(keys.get("engines")) or ("duckdb",), is_query=is_query,
        reads=tuple(sorted((reads | set(_names(keys.get("depends on")))) - {created})),
        params=tuple(dict.fromkeys(PARAM_PATTERN.findall(code))), slots=slots(code),
        parts=keys.get("parts"), parquet_view=keys.get("on spark") == "parquet view", made_by=keys.get("made by"),
        replaces=keys.get("replaces"))
    _check_step(step, keys, where)
    return step


def _check_step(step: Step, keys: dict[str, str], where: str) -> None:
    problems = []
    if step.kind not in KINDS:
        problems.append(f"kind {step.kind!r}: choose one of {', '.join(KINDS)}")
    if not keys.get("grain"):
        problems.append("no grain: say what one row is")
    if set(step.engines) - set(ENGINES):
        problems.append(f"engines {', '.join(step.engines)}: choose from {', '.join(ENGINES)}")
    if step.made_by is not None and step.made_by not in MAKERS:
        problems.append(f"made by {step.made_by!r}: choose one of {', '.join(MAKERS)}")
    if step.made_by is not None and (step.is_query or step.engines != ("duckdb",)):
        problems.append("a table Python fills is defined by a CREATE TABLE statement and filled on DuckDB")
    if step.slots and "spark" in step.engines:
        problems.append(f"slots {step.slots} are filled on DuckDB: list duckdb alone under engines")
    if step.parts and "n_parts" not in step.params:
        problems.append("built in parts, but the query binds no $part of $n_parts")
    if "on spark" in keys and (keys["on spark"] != "parquet view" or "spark" not in step.engines):
        problems.append("on spark: parquet view, for a file that runs on Spark")
    if step.replaces is not None and (step.kind != "view" or step.replaces != step.name):
        problems.append(f"replaces {step.replaces}: a view of that name replaces the working table or view")
    if not step.is_query and step.made_by is None and step.kind != "view":
        problems.append("a CREATE TABLE file needs the Python that fills it: made by")
    if step.is_query and step.kind == "view":
        problems.append("a view's file is its CREATE VIEW statement")
    if problems:
        raise PlanError(f"{where}: " + "; ".join(problems))


# --- the plan ------------------------------------------------------------------------------------


def _files(sql_dir: Path) -> list[Path]:
    """Every file that may make a table: the audits' folder aside, every folder (queries/ may hold one)."""
    return sorted(p for p in sql_dir.glob("*/*.sql") if p.parent.name != AUDITS_DIR)


def _sort_key(step: Step) -> tuple[str, str]:
    return step.layer_dir, step.file


def _depths(needs: dict[str, set[str]]) -> dict[str, int]:
    """Each step's depth: how many steps lie before it on its longest chain of reads (PlanError on a circle)."""
    depths: dict[str, int] = {}
    visiting: list[str] = []

    def depth(path: str) -> int:
        if path in depths:
            return depths[path]
        if path in visiting:
            circle = visiting[visiting.index(path):] + [path]
            raise PlanError(f"the files read each other in a circle: {' -> '.join(circle)}")
        visiting.append(path)
        depths[path] = max((depth(other) + 1 for other in needs[path]), default=0)
        visiting.pop()
        return depths[path]

    for path in sorted(needs):
        depth(path)
    return depths


def _ordered(steps: list[Step], as_of_reads: tuple[str, ...]) -> list[Step]:
    """The loop's steps in build order: each after every step making a table it reads; among the steps ready to
    run, the first by layer folder, then depth, then file name, so a layer's steps come in waves (its first tables,
    then what reads them) and the order is the same on every run."""
    loop = [s for s in steps if s.made_by is None or s.made_by in LOOP_MAKERS]
    makers = {s.name: s for s in loop if s.replaces is None}
    given = set(input_tables()) | {s.name for s in steps if s.made_by == "load"}
    later = {s.name: s.made_by for s in steps if s.made_by in ("models", "build")}
    needs: dict[str, set[str]] = {}
    for step in loop:
        reads = {*step.reads, *(as_of_reads if "as_of" in step.params else ()), *([step.parts] if step.parts else [])}
        for table in sorted(reads):
            if table in later:
                raise PlanError(f"{step.path} reads {table}, which the {later[table]} make after every step")
            if table not in makers and table not in given:
                raise PlanError(f"{step.path} reads {table}, which no file under sql/ makes")
        needs[step.path] = {makers[t].path for t in reads if t in makers and makers[t] is not step}
    for view in (s for s in loop if s.replaces):
        if view.replaces not in makers or makers[view.replaces].kind not in ("temporary", "view"):
            raise PlanError(f"{view.path} replaces {view.replaces}, which is no working table or view of the plan")
        # the view takes the table's place once every step reading the table ran
        needs[view.path] |= {s.path for s in loop if view.replaces in s.reads and s is not view}
    depths = _depths(needs)
    by_path = {s.path: s for s in loop}

    def key(path: str) -> tuple:
        return by_path[path].layer_dir, depths[path], by_path[path].file, path

    ready = [key(p) for p, n in needs.items() if not n]
    heapq.heapify(ready)
    waiting = {p: set(n) for p, n in needs.items() if n}
    order: list[Step] = []
    while ready:
        path = heapq.heappop(ready)[-1]
        order.append(by_path[path])
        for other, pending in list(waiting.items()):
            pending.discard(path)
            if not pending:
                del waiting[other]
                heapq.heappush(ready, key(other))
    return order


def plan_of(sql_dir: Path) -> Plan:
    """The plan of the files under `sql_dir` (PlanError when they do not make one)."""
    with duckdb.connect() as connection:
        steps = [step for path in _files(sql_dir) if (step := _step(connection, path)) is not None]
        audits = tuple(Audit(name=p.stem, rule=header(text)[1],
                             reads=tuple(sorted(_reads(connection, text, f"sql/{AUDITS_DIR}/{p.name}")[2])))
                       for p in sorted((sql_dir / AUDITS_DIR).glob("*.sql"))
                       for text in [p.read_text(encoding="utf-8")])
        as_of_file = sql_dir / "queries" / f"{AS_OF_QUERY}.sql"
        as_of_reads = tuple(sorted(_reads(connection, as_of_file.read_text(encoding="utf-8"), str(as_of_file))[2]))
    names = [s.name for s in steps if s.replaces is None]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PlanError(f"more than one file makes {', '.join(duplicates)}")
    # the layer folders (named by their place in the flow, 00_ to 60_) hold only files the build makes
    unplanned = [f"sql/{p.parent.name}/{p.name}" for p in _files(sql_dir) if p.parent.name[:2].isdigit()
                 and not any(s.layer_dir == p.parent.name and s.file == p.stem for s in steps)]
    if unplanned:
        raise PlanError(f"no kind in the header of {', '.join(unplanned)}: every file of a layer folder is a table or "
                        "view the build makes")
    order = _ordered(steps, as_of_reads)
    models = {s.name for s in steps if s.made_by == "models"}
    for audit in audits:
        if set(audit.reads) & models:
            raise PlanError(f"audit {audit.name} reads {sorted(set(audit.reads) & models)}: the audits run before "
                            "the models")
    rest = [s for s in steps if s not in order]
    fixed = sorted(rest, key=lambda s: (list(MAKERS).index(s.made_by or ""), _sort_key(s)))
    return Plan(steps=tuple(order + fixed), audits=audits)


@lru_cache(maxsize=None)
def read_plan() -> Plan:
    """The plan of the project's sql/: read once per process (the files ship with the code)."""
    return plan_of(SQL_DIR)


# --- the catalogue -------------------------------------------------------------------------------

CATALOGUE_PATH = Path(__file__).resolve().parents[1] / "docs" / "tables.md"
CATALOGUE_EXAMPLE = "account_month_service"  # a header using most keys
LAYER_TITLES = {"00_build": "What the build was given and set", "10_staging": "Staging", "20_metrics": "Metrics",
                "30_panel": "Panel", "40_marts": "Marts", "60_models": "Models", "queries": "Models"}


def _cell(text: str) -> str:
    """Header prose as a Markdown table cell: a bar would end the cell, <name> would read as an HTML tag."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _header_keys() -> list[str]:
    """The keys of a header as this module's docstring describes them (their one home)."""
    lines = (__doc__ or "").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("grain:"))
    end = lines.index("", start)
    return [line.removeprefix("    ") for line in lines[start:end]]


def _order_note(step: Step) -> str:
    if step.replaces:
        return f"a view, in place of the earlier {step.replaces}"
    return "a view" if step.kind == "view" else f"filled by Python {MAKERS[step.made_by or '']}"


def _header_lines(step: Step) -> list[str]:
    text = (SQL_DIR / step.layer_dir / f"{step.file}.sql").read_text(encoding="utf-8")
    return list(itertools.takewhile(lambda line: line.startswith("--"), text.splitlines()))


def catalogue(plan: Plan | None = None) -> str:
    """The table catalogue (docs/tables.md) as Markdown, from the headers: generated, never edited by hand."""
    plan = plan or read_plan()
    known = set(input_tables()) | {s.name for s in plan.steps}
    example = plan.step(CATALOGUE_EXAMPLE)
    lines = [
        "# The tables the build makes",
        "",
        "<!-- Generated from the headers of pipelines/sql/ by `python -m pipelines.plan --catalogue`: edit the SQL "
        "files' headers, then regenerate (tests/test_build_plan.py fails while this file is stale). -->",
        "",
        "Each table is one file under `pipelines/sql/`, whose header says what one row is and what the build needs "
        "to know about it. *Kept* tables and views are in the database a build leaves; *working* tables only feed "
        "later steps and are dropped once no later step reads them. A table is made after every table it reads, so the "
        "build order below is derived from the SQL itself: adding a mart is one file in `pipelines/sql/40_marts/` "
        "(and its unit test in `tests/test_sql_models.py`).",
        "",
        "The header is the file's leading comment lines; a line `-- <key>: <value>` with one of these keys tells the "
        "build something (`pipelines/plan.py` reads them), any other line goes on with the grain's text:",
        "",
        "```",
        *_header_keys(),
        "```",
        "",
        f"For example, the header of `{example.path}`:",
        "",
        "```sql",
        *_header_lines(example),
        "```",
        "",
    ]
    layers = dict.fromkeys(LAYER_TITLES[s.layer_dir] for s in sorted(plan.steps, key=_sort_key))
    for title in layers:
        lines += [f"## {title}", "", "| table | kind | made | reads | grain |", "|---|---|---|---|---|"]
        for step in sorted((s for s in plan.steps if LAYER_TITLES[s.layer_dir] == title), key=lambda s: s.name):
            kind = {"table": "kept", "temporary": "working", "view": "view"}[step.kind]
            if step.replaces:
                kind = "view, in place of an earlier one"
            how = (f"filled by Python {MAKERS[step.made_by]}" if step.made_by else
                   " and ".join(e if e != "duckdb" else "DuckDB" for e in step.engines).replace("spark", "Spark"))
            if step.parts:
                how += f", in parts of {step.parts}"
            if step.parquet_view:
                how += " (on Spark: a view over its Parquet)"
            reads = ", ".join(f"`{r}`" for r in step.reads if r in known) or "–"
            lines.append(f"| `{step.name}` | {kind} | {how} | {reads} | {_cell(step.grain)} "
                         f"(`{step.path}`) |")
        lines.append("")
    lines += ["## Audits", "",
              "Queries that return the rows breaking a rule: any row fails the build, and the rows are shown. They run "
              "after every table above and before the models.", "", "| audit | reads | rule |", "|---|---|---|"]
    for audit in plan.audits:
        lines.append(f"| `{audit.name}` | {', '.join(f'`{r}`' for r in audit.reads)} | {_cell(audit.rule)} |")
    lines += ["", "## Build order", "",
              "The load reads the inputs (and fills " + ", ".join(f"`{s.name}`" for s in plan.made_by("load")) +
              "); then, in this order:", ""]
    lines += [f"{i}. `{s.name}` ({s.stage or _order_note(s)})" for i, s in enumerate(plan.loop, 1)]
    lines += ["", "Then the audits, the models (" + ", ".join(f"`{s.name}`" for s in plan.made_by("models")) +
              ") and, at the end, " + ", ".join(f"`{s.name}`" for s in plan.made_by("build")) + ".", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m pipelines.plan --catalogue` writes docs/tables.md; `--check` exits 1 when it is stale."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.plan", description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--catalogue", action="store_true", help=f"write the table catalogue to {CATALOGUE_PATH}")
    action.add_argument("--check", action="store_true", help="exit 1 if the catalogue on disk is stale")
    args = parser.parse_args(argv)
    text = catalogue()
    if args.check:
        return 0 if CATALOGUE_PATH.exists() and CATALOGUE_PATH.read_text(encoding="utf-8") == text else 1
    CATALOGUE_PATH.parent.mkdir(parents=True, exist_ok=True)
    CATALOGUE_PATH.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
