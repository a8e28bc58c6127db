"""Each rule of the Spark transform (pipelines/spark/transform.py) on literal rows, run on both engines.

A rule's test runs a small DuckDB query as it is on DuckDB and through the transform on Spark and expects the same
rows; where it matters it also shows what sqlglot alone would give. The whole build's parity is
tests/test_spark_parity.py. Spark and Java are required: without them these tests skip locally and fail under CI.
"""

from __future__ import annotations

import duckdb
import pytest

from test_spark_parity import require_spark

from pipelines.plan import read_plan
from pipelines.sqlrun import file_fragment, sql_text


@pytest.fixture(scope="module")
def spark():
    require_spark()
    from pipelines.spark.engine import start_session

    return start_session("local[2]")


def on_duckdb(sql: str, params: dict | None = None) -> list[tuple]:
    con = duckdb.connect()
    con.execute("set timezone = 'UTC'")
    return sorted(con.execute(sql, params or {}).fetchall(), key=repr)


def on_spark(spark, sql: str, params: dict | None = None, rules=None) -> list[tuple]:
    from pipelines.spark.transform import to_spark

    return sorted((tuple(r) for r in spark.sql(to_spark(sql, rules), args=params or {}).collect()), key=repr)


def test_asof_join_finds_the_next_contact_after_each_resolution(spark):
    # a resolution at the very time of a contact takes the next one (strictly after); two contacts at one time
    # match once; the last resolution has none
    sql = """
        with resolutions as (
            select * from (values (1, 'a', timestamp '2024-01-01 10:00'), (2, 'a', timestamp '2024-01-02 09:00'),
                                  (3, 'a', timestamp '2024-01-05 00:00'), (4, 'b', timestamp '2024-01-01 00:00'))
                as r(id, account_id, resolved_at)
        ),
        contacts as (
            select * from (values ('a', timestamp '2024-01-01 10:00'), ('a', timestamp '2024-01-02 09:00'),
                                  ('a', timestamp '2024-01-02 09:00'), ('a', timestamp '2024-01-03 00:00'),
                                  ('b', timestamp '2023-12-31 00:00'))
                as c(account_id, created_at)
        )
        select r.id, n.created_at
        from resolutions as r
        asof left join contacts as n on r.account_id = n.account_id and r.resolved_at < n.created_at
    """
    expected = on_duckdb(sql)
    assert [row[0] for row in expected] == [1, 2, 3, 4]
    assert on_spark(spark, sql) == expected


def test_a_frame_offset_per_row_finds_the_first_contact_after_each_resolution(spark):
    # the interaction metrics' next contact: a resolution at the very time of a contact takes the next one (strictly
    # after), an interaction resolved as it was created does not find itself, two contacts at one time give one row,
    # an unresolved one and the account's last have none, another account's contacts never count
    sql = """
        with interactions as (
            select * from (values
                (1, 'a', timestamp '2024-01-01 08:00', timestamp '2024-01-01 10:00'),
                (2, 'a', timestamp '2024-01-01 10:00', timestamp '2024-01-02 09:00'),
                (3, 'a', timestamp '2024-01-02 09:00', timestamp '2024-01-02 09:00'),
                (4, 'a', timestamp '2024-01-02 09:00', null),
                (5, 'a', timestamp '2024-01-03 00:00', timestamp '2024-01-05 00:00'),
                (6, 'b', timestamp '2024-01-01 00:00', timestamp '2024-01-01 00:00'),
                (7, 'b', timestamp '2024-01-04 00:00', timestamp '2024-01-04 12:00'))
                as i(id, account_id, created_at, resolved_at)
        )
        select i.id, case when i.resolved_at is not null then first_value(i.created_at) over (
            partition by i.account_id order by i.created_at
            range between (i.resolved_at - i.created_at + interval 1 microsecond) following and unbounded following
        ) end as next_contact_at
        from interactions as i
    """
    expected = on_duckdb(sql)
    day = "2024-01-0{} {}"
    assert [(i, str(t) if t else None) for i, t in expected] == [
        (1, day.format(2, "09:00:00")), (2, day.format(3, "00:00:00")), (3, day.format(3, "00:00:00")),
        (4, None), (5, None), (6, day.format(4, "00:00:00")), (7, None)]
    assert on_spark(spark, sql) == expected


def test_columns_by_pattern_unpivots_the_raised_flags(spark):
    sql = """
        with row_flags as (
            select _row, is_a, is_b from (values (1, true, false), (2, false, false), (3, null, true))
                as t(_row, is_a, is_b)
        ),
        raised as (
            unpivot (select * from row_flags where greatest(*columns('^is_')))
            on columns('^is_')
            into name flag value is_raised
        )
        select _row, flag, is_raised from raised
    """
    expected = on_duckdb(sql)
    assert expected == [(1, "is_a", True), (1, "is_b", False), (3, "is_b", True)]
    assert on_spark(spark, sql) == expected


def test_series_in_from_makes_a_month_calendar(spark):
    # from a month start, as calendar_months does: from the 31st DuckDB would step on from a clipped 29 February
    # (31 Jan, 29 Feb, 29 Mar) where Spark adds k months to the start (31 Mar)
    sql = """
        with bounds as (select date '2024-01-01' as first_day, date '2024-03-31' as last_day)
        select cast(gs.month_start as date) as month_start
        from bounds as b,
            generate_series(cast(b.first_day as timestamp), cast(b.last_day as timestamp), interval 1 month)
                as gs(month_start)
    """
    expected = on_duckdb(sql)
    assert len(expected) == 3
    assert on_spark(spark, sql) == expected


def test_exact_percentiles_give_the_interpolated_median(spark):
    from pipelines.spark.transform import to_spark

    sql = """
        select percentile_cont(0.5) within group (order by x) as median_x
        from (values (1.0), (2.0), (10.0), (20.0)) as t(x)
    """
    assert on_duckdb(sql) == [(6.0,)] == on_spark(spark, sql)
    assert "PERCENTILE_APPROX" not in to_spark(sql).upper()


def test_boundary_date_diff_counts_boundaries_crossed(spark):
    from pipelines.spark.transform import RULES

    sql = """
        select date_diff('second', timestamp '2024-01-01 00:00:00.9', timestamp '2024-01-01 00:00:01.1') as seconds,
               date_diff('day', timestamp '2024-01-01 23:00', timestamp '2024-01-02 01:00') as days
    """
    assert on_duckdb(sql) == [(1, 1)] == on_spark(spark, sql)
    without = {name: rule for name, rule in RULES.items() if name != "boundary_date_diff"}
    assert on_spark(spark, sql, rules=without) == [(0, 0)]  # what sqlglot alone gives: whole units elapsed


def test_decimal_literals_to_double_keeps_averages_in_floating_point(spark):
    from pipelines.spark.transform import RULES

    sql = """
        select avg(case when x > 1 then 1.0 else 0.0 end) as share, sum(x) / 3600.0 as hours
        from (values (1), (2), (3)) as t(x)
    """
    expected = on_duckdb(sql)
    assert on_spark(spark, sql) == expected
    without = {name: rule for name, rule in RULES.items() if name != "decimal_literals_to_double"}
    assert on_spark(spark, sql, rules=without) != expected  # Spark's DECIMAL arithmetic rounds


def test_typeof_names_are_duckdb_names(spark):
    sql = """
        select typeof(d) = 'DATE', typeof(t) = 'TIMESTAMP', typeof(s) = 'VARCHAR'
        from (select date '2024-01-01' as d, timestamp '2024-01-01 10:00' as t, 'x' as s)
    """
    assert on_duckdb(sql) == [(True, True, True)] == on_spark(spark, sql)


def test_hash_64bit_groups_like_duckdb(spark):
    from pipelines.spark.transform import to_spark

    sql = """
        select count(*) as n_groups from (
            select hash(id) as h from (values ('a'), ('b'), ('a'), ('c')) as t(id) group by hash(id)
        )
    """
    assert on_duckdb(sql) == [(3,)] == on_spark(spark, sql)
    assert "XXHASH64" in to_spark(sql).upper()


def test_cte_materialization_hints_are_dropped_for_spark(spark):
    from pipelines.spark.transform import to_spark

    sql = """
        with rows_read_twice as not materialized (select * from (values (1), (2), (2)) as t(x))
        select a.x, count(*) as n from rows_read_twice as a join rows_read_twice as b on a.x = b.x group by a.x
    """
    assert on_duckdb(sql) == [(1, 1), (2, 4)] == on_spark(spark, sql)
    assert "MATERIALIZED" not in to_spark(sql).upper()


def test_parameters_are_bound_on_spark(spark):
    sql = "select list_contains($levels, 'high') as found, cast($as_of as date) + 1 as next_day"
    params = {"levels": ["low", "high"], "as_of": __import__("datetime").date(2024, 2, 28)}
    assert on_duckdb(sql, params) == on_spark(spark, sql, params)


def test_no_transpiled_build_file_holds_an_approximate_aggregate():
    """sqlglot's default for percentile_cont is PERCENTILE_APPROX: a silent estimate. to_spark refuses any."""
    require_spark()
    from pipelines.spark.transform import APPROXIMATE_FUNCTIONS, SparkTransformError, to_spark

    # the files a Spark build gives Spark: their headers list spark among their engines
    steps = [s for s in read_plan().steps if s.engine("spark") == "spark" and s.is_query]
    assert len(steps) >= 15
    for step in steps:
        text = to_spark(file_fragment(step.layer_dir, step.file).text)
        assert not [name for name in APPROXIMATE_FUNCTIONS if name in text.upper()], step.path
    with pytest.raises(SparkTransformError):
        to_spark("select approx_count_distinct(x) from t")
    assert sql_text("queries", "latest_input_date")
