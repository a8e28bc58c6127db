"""`retention build`: turn the exports into the database, printing each stage, the load report and the rejects."""

from __future__ import annotations

import argparse

from ..build import ENGINES, StageEvent, build_database
from ..load import input_location
from ..settings import DEFAULT_DRIVERS_SAMPLE, DEFAULT_MEMORY_LIMIT_MB, BuildSettings, SettingsError, parse_sla
from .common import add_db_argument, parse_date


def add_parser(sub) -> None:
    build = sub.add_parser("build", help="build the DuckDB database from accounts and interactions files")
    where = ("CSV or Parquet file, or a folder or glob of Parquet files (with --engine spark also a URL Spark reads, "
             "e.g. s3a://bucket/table/)")
    build.add_argument("--accounts", type=input_location, required=True, help=f"accounts {where}")
    build.add_argument("--interactions", type=input_location, required=True, help=f"interactions {where}")
    build.add_argument("--mrr-history", type=input_location, help=f"optional mrr_history {where}")
    build.add_argument("--as-of", type=parse_date, help="analysis date (default: the latest date in the inputs)")
    build.add_argument("--sla", help="first-response targets in hours, e.g. urgent=1,high=4,normal=8,low=24")
    build.add_argument("--drivers-sample", type=int, default=DEFAULT_DRIVERS_SAMPLE, metavar="N",
                       help=f"fit the drivers model on a random sample of N accounts when there are more "
                            f"(default {DEFAULT_DRIVERS_SAMPLE:,}; 0 fits every account, exactly)")
    build.add_argument("--causal-structure", metavar="FILE",
                       help="which service factor comes before which, as a TOML file like "
                            "pipelines/models/causal_structure.toml (default: that built-in file)")
    build.add_argument("--churn-reasons", metavar="FILE",
                       help="the cause each churn reason counts under (voluntary, involuntary, ...), as a TOML file "
                            "like pipelines/churn_reasons.toml (default: that built-in file)")
    build.add_argument("--no-models", action="store_true",
                       help="build the data alone: the model tables stay empty (a quick check of new inputs)")
    build.add_argument("--memory-limit-mb", type=int, metavar="MB",
                       help=f"DuckDB's memory during the build (default the smaller of {DEFAULT_MEMORY_LIMIT_MB:,} "
                            "and half of RAM; more makes a large build faster, joins and sorts beyond it spill "
                            "to disk beside the database)")
    build.add_argument("--engine", choices=ENGINES, default="duckdb",
                       help="where the staging, metrics, panel and marts SQL runs: duckdb (default) or spark "
                            "(needs pip install -e '.[spark]' and Java 17+; README, Running on Spark)")
    build.add_argument("--spark-master", metavar="URL",
                       help="with --engine spark: the Spark master (default local[*]) or a Spark Connect sc:// URL")
    build.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE", type=_spark_option,
                       help="with --engine spark: a Spark session option, e.g. spark.driver.memory=8g (repeatable)")
    build.add_argument("--spark-output", metavar="DIR",
                       help="with --engine spark: the folder for Spark's tables as Parquet, one sub-folder per build "
                            "(default: <database name>.parquet beside the database); the database reads "
                            "interaction_metrics and account_months from it, so keep it with the database")
    build.add_argument("--incremental", action="store_true",
                       help="refresh the database already at --db from these inputs: recompute only the interactions "
                            "and panel rows that new or changed input rows reach (the marts, audits and models are made "
                            "whole); the tables equal a full build's, and where that cannot be shown (rows removed, "
                            "other settings or files, no previous database) it builds whole and says why")
    add_db_argument(build)
    build.set_defaults(func=run)


def _spark_option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: write KEY=VALUE, e.g. spark.driver.memory=8g")
    return key.strip(), value.strip()



def _print_stage(event: StageEvent) -> None:
    print(f"  {event.stage:<8} {event.table:<28} {event.rows:>12,} rows {event.seconds:>8.2f} s", flush=True)


def run(args: argparse.Namespace) -> int:
    settings = BuildSettings(as_of=args.as_of, sla_hours=parse_sla(args.sla) if args.sla else BuildSettings().sla_hours,
                             drivers_sample=args.drivers_sample or None, memory_limit_mb=args.memory_limit_mb,
                             causal_structure=args.causal_structure, churn_reasons=args.churn_reasons,
                             fit_models=not args.no_models)
    if args.engine != "spark" and (args.spark_master or args.spark_conf or args.spark_output):
        raise SettingsError("--spark-master, --spark-conf and --spark-output need --engine spark")
    print(f"Building {args.db} ..." + (" (SQL on Spark)" if args.engine == "spark" else ""), flush=True)
    result = build_database(
        accounts=args.accounts,
        interactions=args.interactions,
        mrr_history=args.mrr_history,
        db_path=args.db,
        settings=settings,
        progress=_print_stage,
        engine=args.engine,
        spark_master=args.spark_master,
        spark_conf=dict(args.spark_conf),
        spark_output=args.spark_output,
        incremental=args.incremental,
    )
    if result.refresh:
        print(f"\n{result.refresh}")
    print(f"\nBuilt {result.db_path} in {result.seconds:.1f} s (as-of {result.as_of}, build {result.build_id[:8]}).")
    print("\nLoad report:")
    print(f"  {'source':<14}{'read':>12}{'loaded':>12}{'dropped':>10}{'nulled':>10}{'after as-of':>13}")
    for row in result.load_report:
        print(
            f"  {row['source']:<14}{row['rows_read']:>12,}{row['rows_loaded']:>12,}{row['rows_dropped']:>10,}"
            f"{row['values_nulled']:>10,}{row['rows_after_as_of']:>13,}"
        )
    if result.reject_summary:
        print("\nRejected rows and values (see table rejected_rows for each one):")
        for r in result.reject_summary:
            print(f"  {r['n_rows']:>8,}  {r['source']}.{r['column']}: {r['reason']} [{r['action']}]")
    else:
        print("\nNo rejected rows.")
    if result.churn_reasons_not_listed:
        print("\nChurn reasons the reasons file does not list (see table churn_reason_report):")
        for r in result.churn_reasons_not_listed:
            reason = "(no reason given)" if r["reason"] is None else repr(r["reason"])
            print(f"  {r['accounts']:>8,}  {reason}: counted as {r['cause']}")
    for warning in result.warnings:
        print(f"warning: {warning}")
    for note in result.notes:
        print(f"note: {note}")
    return 0
