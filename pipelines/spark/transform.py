"""The project's DuckDB -> Spark SQL transform: sqlglot's transpiler plus the rules below.

sqlglot transpiles every file of the build, and warns about nothing when the Spark text means something else
(`percentile_cont` becomes the approximate `PERCENTILE_APPROX`, `1.0` a DECIMAL that Spark rounds). Each rule
here rewrites one construct of the DuckDB AST into one that gives the same rows on Spark; each has its own
test on literal rows (tests/test_spark_transform.py), and only the parity test (tests/test_spark_parity.py)
proves the whole. Constructs that can be written the same for both engines are written so in the .sql files
instead (median(), `n * interval 1 day`, explicit column lists, ISO-shaped dates before a cast).
"""

from __future__ import annotations

import re
from typing import Callable

import sqlglot
from sqlglot import exp

# Aggregates that give an estimate on Spark: a transpiled query must never contain one (test_spark_transform).
APPROXIMATE_FUNCTIONS = ("PERCENTILE_APPROX", "APPROX_PERCENTILE", "APPROX_COUNT_DISTINCT")


class SparkTransformError(ValueError):
    """A construct of a .sql file that the transform cannot give Spark with the same meaning."""


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name)


# -- rules: each takes the parsed DuckDB tree and returns it rewritten ------------------------------------


def decimal_literals_to_double(tree: exp.Expression) -> exp.Expression:
    """`1.0`, `3600.0`: a DECIMAL on both engines, but DuckDB's arithmetic and avg() on it give DOUBLE while
    Spark keeps a DECIMAL and rounds to its scale. A double literal keeps Spark in floating point too."""
    def rule(node):
        if isinstance(node, exp.Literal) and not node.is_string and re.search(r"[.eE]", node.this):
            return exp.cast(node.copy(), exp.DataType.build("double"))
        return node
    return tree.transform(rule)


def exact_percentiles(tree: exp.Expression) -> exp.Expression:
    """`percentile_cont(q) within group (order by x)` -> Spark's exact `percentile(x, q)` (sqlglot's default is the
    approximate PERCENTILE_APPROX). Both interpolate linearly between the two nearest ranks."""
    def rule(node):
        if isinstance(node, exp.WithinGroup) and isinstance(node.this, exp.PercentileCont):
            order = node.expression
            ordered = order.expressions[0] if isinstance(order, exp.Order) else order
            if len(order.expressions) != 1 or ordered.args.get("desc"):
                raise SparkTransformError(f"percentile_cont over more than one ascending key: {node.sql('duckdb')}")
            return exp.Anonymous(this="percentile", expressions=[ordered.this.copy(), node.this.this.copy()])
        if isinstance(node, (exp.PercentileCont, exp.PercentileDisc, exp.ApproxQuantile)):
            raise SparkTransformError(f"{node.sql('duckdb')}: write median() or percentile_cont(q) within group")
        return node
    return tree.transform(rule)


def boundary_date_diff(tree: exp.Expression) -> exp.Expression:
    """DuckDB's date_diff counts the unit boundaries crossed (0.9 s -> 1.1 s is 1 second, 23:00 -> 01:00 is one
    day); Spark's DATEDIFF(unit, ...) counts whole units elapsed. Seconds are a difference of epoch seconds,
    days a difference of dates, which count boundaries on both."""
    def rule(node):
        if not isinstance(node, exp.DateDiff):
            return node
        unit = (node.text("unit") or "day").lower()
        end, start = node.this.copy(), node.expression.copy()
        if unit == "second":
            seconds = [exp.Anonymous(this="unix_seconds", expressions=[exp.cast(v, exp.DataType.build("timestamptz"))])
                       for v in (end, start)]
            return exp.Paren(this=exp.Sub(this=seconds[0], expression=seconds[1]))
        if unit == "day":
            return exp.Anonymous(this="datediff", expressions=[exp.cast(end, exp.DataType.build("date")),
                                                               exp.cast(start, exp.DataType.build("date"))])
        raise SparkTransformError(f"date_diff by {unit}: only seconds and days are given to Spark")
    return tree.transform(rule)


def typeof_names(tree: exp.Expression) -> exp.Expression:
    """typeof() text: Spark says 'date', 'timestamp_ntz', 'string'; DuckDB 'DATE', 'TIMESTAMP', 'VARCHAR'.
    The queries compare it to DuckDB's names, so Spark's answer is translated to them."""
    names = {"date": "DATE", "timestamp_ntz": "TIMESTAMP", "timestamp": "TIMESTAMP WITH TIME ZONE",
             "string": "VARCHAR", "double": "DOUBLE", "bigint": "BIGINT", "int": "INTEGER", "boolean": "BOOLEAN"}

    def rule(node):
        if isinstance(node, exp.Typeof) and not node.meta.get("spark_names"):
            inner = exp.Typeof(this=node.this.copy())
            inner.meta["spark_names"] = True
            case = exp.Case(this=inner, ifs=[exp.If(this=exp.Literal.string(k), true=exp.Literal.string(v))
                                             for k, v in names.items()],
                            default=exp.Upper(this=inner.copy()))
            return case
        return node
    return tree.transform(rule)


def hash_64bit(tree: exp.Expression) -> exp.Expression:
    """DuckDB's hash() is 64-bit and unsigned, Spark's hash() 32-bit: xxhash64 keeps collisions as rare. (A query
    may only group by a hash, never take its value as a result: the numbers differ between engines.) A number cast to
    DuckDB's UBIGINT, which keeps arithmetic with an unsigned hash in 64 bits, is a BIGINT on Spark, whose xxhash64
    is signed."""
    def rule(node):
        if isinstance(node, exp.Anonymous) and node.name.lower() == "hash":
            return exp.Anonymous(this="xxhash64", expressions=[e.copy() for e in node.expressions])
        if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.UBIGINT:
            return exp.DataType.build("bigint")
        return node
    return tree.transform(rule)


def series_in_from(tree: exp.Expression) -> exp.Expression:
    """`from generate_series(a, b, step) as t(x)` -> `from lateral (select explode(sequence(a, b, step)) as x) as t`:
    Spark has no table function by that name; sequence() includes its end like generate_series. A monthly series
    must start on a day <= 28 (the build's starts on the 1st): DuckDB steps on from a clipped month end (31 Jan,
    29 Feb, 29 Mar), Spark adds k months to the start (31 Mar)."""
    def rule(node):
        if isinstance(node, exp.Table) and isinstance(node.this, exp.GenerateSeries):
            series = node.this
            if series.args.get("is_end_exclusive"):
                raise SparkTransformError("range() in FROM: write generate_series, whose end is included")
            alias = node.args.get("alias")
            if alias is None or len(alias.columns) != 1:
                raise SparkTransformError("generate_series in FROM needs an alias with one column: as t(x)")
            sequence = exp.Anonymous(this="sequence", expressions=[
                series.args["start"].copy(), series.args["end"].copy(), series.args["step"].copy()])
            select = exp.select(exp.alias_(exp.Explode(this=sequence), alias.columns[0].name))
            # lateral: the series' bounds may name an earlier table of the FROM, as DuckDB allows
            return exp.Lateral(this=exp.Subquery(this=select), alias=exp.TableAlias(this=_ident(alias.name)))
        return node
    return tree.transform(rule)


def row_offset_frames(tree: exp.Expression) -> exp.Expression:
    """`first_value(a.t) over (partition by a.k order by a.t range between <offset> following and unbounded
    following)`, whose offset differs by row (DuckDB evaluates a frame's offset per row, Spark takes only a
    constant) -> `asof left join <a's table> as b on b.k = a.k and a.t + <offset> <= b.t` and `b.t` in its place:
    both give the first t at or after a.t + offset in a's partition. The asof_join rule then gives Spark the join."""
    windows = [w for w in tree.find_all(exp.Window)
               if isinstance(w.args.get("spec"), exp.WindowSpec) and _has_row_offset_start(w.args["spec"])]
    for number, window in enumerate(windows):
        spec = window.args["spec"]
        value = window.this
        order = window.args.get("order")
        if not (isinstance(value, exp.FirstValue) and isinstance(value.this, exp.Column)):
            raise SparkTransformError(f"a frame offset per row is given to Spark only for first_value(column): "
                                      f"{window.sql('duckdb')}")
        column = value.this
        if (spec.args.get("kind") or "").upper() != "RANGE" or spec.args.get("end") != "UNBOUNDED" \
                or order is None or len(order.expressions) != 1 or order.expressions[0].args.get("desc") \
                or order.expressions[0].this != column:
            raise SparkTransformError(f"a frame offset per row is given to Spark only for a RANGE frame to unbounded "
                                      f"following, ordered by the value it takes: {window.sql('duckdb')}")
        select = window.find_ancestor(exp.Select)
        source = _from_table(select, column.table) if select is not None else None
        partition = window.args.get("partition_by") or []
        if select is None or source is None \
                or any(not isinstance(c, exp.Column) or c.table != column.table for c in partition):
            raise SparkTransformError(f"a frame offset per row is given to Spark only over one table of the FROM: "
                                      f"{window.sql('duckdb')}")
        later = f"frame_{number}"
        keys = [exp.EQ(this=exp.column(c.name, table=later), expression=c.copy()) for c in partition]
        offset = spec.args["start"].copy()
        if not isinstance(offset, exp.Paren):
            offset = exp.Paren(this=offset)
        start = exp.Add(this=column.copy(), expression=offset)
        at_or_after = exp.LTE(this=start, expression=exp.column(column.name, table=later))
        select.append("joins", exp.Join(this=exp.Table(this=_ident(source.name), alias=exp.TableAlias(
            this=_ident(later))), on=exp.and_(*keys, at_or_after), method="ASOF", side="LEFT"))
        window.replace(exp.column(column.name, table=later))
    return tree


def _from_table(select: exp.Select, alias: str) -> exp.Table | None:
    """The table of the select's FROM or joins named (or aliased) `alias`."""
    sources = [select.args["from_"].this, *(join.this for join in select.args.get("joins") or [])]
    return next((t for t in sources if isinstance(t, exp.Table) and t.alias_or_name == alias), None)


def _has_row_offset_start(spec: exp.WindowSpec) -> bool:
    start = spec.args.get("start")
    return (spec.args.get("start_side") or "").upper() == "FOLLOWING" and isinstance(start, exp.Expression) \
        and not isinstance(start, exp.Literal)


def asof_join(tree: exp.Expression) -> exp.Expression:
    """`a asof left join b on a.k = b.k and a.t < b.t` (the first b after each a) -> a range join: b carries the
    time of the b before it in its key, and a matches the one b whose interval [previous t, t) holds a.t.
    Of several b at one time exactly one has a non-empty interval, as ASOF picks one."""
    def rule(node):
        if not (isinstance(node, exp.Join) and (node.args.get("method") or "").upper() == "ASOF"):
            return node
        if (node.args.get("side") or "").upper() != "LEFT":
            raise SparkTransformError("only ASOF LEFT JOIN is given to Spark")
        table = node.this
        right = table.alias_or_name
        conditions = list(node.args["on"].flatten()) if isinstance(node.args["on"], exp.And) else [node.args["on"]]
        keys, ranges = [], []
        for condition in conditions:
            if isinstance(condition, exp.EQ):
                keys.append(condition)
            elif isinstance(condition, (exp.LT, exp.LTE)) and condition.expression.table == right:
                ranges.append(condition)
            else:
                raise SparkTransformError(f"ASOF condition {condition.sql('duckdb')}: write left.t < right.t")
        if len(ranges) != 1:
            raise SparkTransformError("an ASOF join needs exactly one inequality")
        inequality = ranges[0]
        time_column = inequality.expression.name
        partition = [(c.this if c.this.table == right else c.expression).name for c in keys]
        previous = exp.Window(
            this=exp.Anonymous(this="lag", expressions=[exp.column(time_column)]),
            partition_by=[exp.column(c) for c in partition],
            order=exp.Order(expressions=[exp.Ordered(this=exp.column(time_column))]))
        source = table.copy()
        source.set("alias", None)
        inner = exp.select(exp.Star(), exp.alias_(previous, "asof_previous_at")).from_(source)
        subquery = exp.Subquery(this=inner, alias=exp.TableAlias(this=_ident(right)))
        before = exp.column("asof_previous_at", table=right)
        # a.t < b.t: a falls in [previous, t); a.t <= b.t: a falls in (previous, t]
        lower = (exp.GTE if isinstance(inequality, exp.LT) else exp.GT)(this=inequality.this.copy(), expression=before)
        on = exp.and_(*[c.copy() for c in conditions],
                      exp.Paren(this=exp.or_(exp.Is(this=before.copy(), expression=exp.Null()), lower)))
        return exp.Join(this=subquery, on=on, side="LEFT")
    return tree.transform(rule)


def _cte_columns(tree: exp.Expression) -> dict[str, list[str]]:
    """Output column names of each CTE whose select list names every column (no star)."""
    found = {}
    for cte in tree.find_all(exp.CTE):
        select = cte.this
        if isinstance(select, exp.Select) and not any(isinstance(e, exp.Star) for e in select.expressions):
            found[cte.alias] = [e.alias_or_name for e in select.expressions]
    return found


def columns_by_pattern(tree: exp.Expression) -> exp.Expression:
    """DuckDB's COLUMNS('regex') (and *COLUMNS in a call) over a CTE with a named select list -> the matching
    columns, listed; `unpivot (q) on columns(...) into name n value v` -> Spark's `q unpivot (v for n in (...))`.
    Both engines leave out NULL values of an unpivot."""
    ctes = _cte_columns(tree)

    def source_columns(select: exp.Select) -> list[str]:
        source = select.args["from_"].this
        if not isinstance(source, exp.Table) or source.name not in ctes:
            raise SparkTransformError("COLUMNS(...) is given to Spark only over a CTE that names its columns")
        return ctes[source.name]

    def expand(select: exp.Select) -> None:
        for columns in list(select.find_all(exp.Columns)):
            if columns.find_ancestor(exp.Select, exp.Pivot) is not select:
                continue
            pattern = re.compile(columns.this.this)
            names = [exp.column(n) for n in source_columns(select) if pattern.search(n)]
            parent = columns.parent
            if isinstance(parent, exp.Greatest) and columns.args.get("unpack"):
                parent.replace(exp.Greatest(this=names[0], expressions=names[1:]))
            else:
                raise SparkTransformError("COLUMNS(...) is given to Spark only unpacked inside greatest()")

    def select_rule(node):
        if isinstance(node, exp.Select) and node.find(exp.Columns):
            expand(node)
        return node

    def rule(node):
        if isinstance(node, exp.Pivot) and node.args.get("unpivot") and isinstance(node.this, exp.Subquery):
            inner = node.this.this.copy()
            expand(inner)
            on = node.expressions[0]
            pattern = re.compile(on.this.this)
            names = [exp.column(n) for n in source_columns(inner) if pattern.search(n)]
            into = node.args["into"]
            pivot = exp.Pivot(expressions=[_ident(into.expressions[0].name)],
                              fields=[exp.In(this=_ident(into.this.name), expressions=names)], unpivot=True)
            return exp.select(exp.Star()).from_(exp.Subquery(this=inner, pivots=[pivot]))
        return node
    return tree.transform(rule).transform(select_rule)


def cte_materialization_hints(tree: exp.Expression) -> exp.Expression:
    """`with x as not materialized (...)` tells DuckDB's planner to read a CTE's query where it is used rather than
    store its rows; Spark has no such syntax (and plans a CTE where it is used already). The hint is dropped: the
    rows are the same."""
    for cte in tree.find_all(exp.CTE):
        if cte.args.get("materialized") is not None:
            cte.set("materialized", None)
    return tree


# The rules in the order they run (names are what tests and docs/spark.md refer to).
RULES: dict[str, Callable[[exp.Expression], exp.Expression]] = {
    "row_offset_frames": row_offset_frames,
    "asof_join": asof_join,
    "columns_by_pattern": columns_by_pattern,
    "series_in_from": series_in_from,
    "exact_percentiles": exact_percentiles,
    "boundary_date_diff": boundary_date_diff,
    "decimal_literals_to_double": decimal_literals_to_double,
    "typeof_names": typeof_names,
    "hash_64bit": hash_64bit,
    "cte_materialization_hints": cte_materialization_hints,
}


def to_spark(sql: str, rules: dict[str, Callable[[exp.Expression], exp.Expression]] | None = None) -> str:
    """One DuckDB query (a project .sql file's text, slots filled) as Spark SQL; `$name` parameters become `:name`,
    bound by spark.sql(text, args=...)."""
    statements = sqlglot.parse(sql, read="duckdb")
    if len(statements) != 1:
        raise SparkTransformError(f"one statement expected, found {len(statements)}")
    tree = statements[0]
    # None: sqlglot's parse of a text with no statement in it (only a `;`); every statement node is an Expression
    if not isinstance(tree, exp.Expression):
        raise SparkTransformError("one statement expected, found none")
    for rule in (RULES if rules is None else rules).values():
        tree = rule(tree)
    text = tree.sql(dialect="spark", pretty=True)
    approximate = [name for name in APPROXIMATE_FUNCTIONS if name in text.upper()]
    if approximate:
        raise SparkTransformError(f"the Spark text holds an approximate aggregate: {approximate}")
    return text


def view_query(sql: str) -> tuple[str, str]:
    """A file's `create view <name> as <query>`: the view's name and its query (DuckDB text), so Spark can make it a
    temporary view."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    if not (isinstance(tree, exp.Create) and (tree.args.get("kind") or "").upper() == "VIEW"):
        raise SparkTransformError("a view file holds one create view statement")
    return tree.this.name, tree.expression.sql(dialect="duckdb")
