"""The `retention` command: demo data, builds, and (later) models. Only this module prints."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

from .build import DEFAULT_DB_PATH, BuildError, StageEvent, build_database
from .load import InputError
from .settings import BuildSettings, SettingsError, parse_sla


def default_db_path() -> Path:
    """RETENTION_DB points every command (and the app) at another database file."""
    return Path(os.environ.get("RETENTION_DB") or DEFAULT_DB_PATH)


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _print_stage(event: StageEvent) -> None:
    print(f"  {event.stage:<8} {event.table:<28} {event.rows:>12,} rows {event.seconds:>8.2f} s", flush=True)


def cmd_build(args: argparse.Namespace) -> int:
    settings = BuildSettings(as_of=args.as_of, sla_hours=parse_sla(args.sla) if args.sla else BuildSettings().sla_hours)
    print(f"Building {args.db} ...", flush=True)
    result = build_database(
        accounts=args.accounts,
        interactions=args.interactions,
        mrr_history=args.mrr_history,
        db_path=args.db,
        settings=settings,
        progress=_print_stage,
    )
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
    for warning in result.warnings:
        print(f"warning: {warning}")
    for note in result.notes:
        print(f"note: {note}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import generate_demo

    result = generate_demo(
        out_dir=args.out,
        n_accounts=args.accounts,
        seed=args.seed,
        file_format=args.format,
        progress=lambda message: print(f"  {message}", flush=True),
    )
    print(f"Demo data written to {args.out} (as-of {result.as_of}).")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retention",
        description="Retention analytics for SaaS customer support: which parts of service keep customers.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="write the demo dataset with planted, known effects")
    demo.add_argument("--accounts", type=int, default=5000, help="number of accounts (default 5000)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument("--format", choices=("csv", "parquet"), default="csv", help="file format (default csv)")
    demo.add_argument("--out", type=Path, default=Path("data/demo"), help="output folder (default data/demo)")
    demo.set_defaults(func=cmd_demo)

    build = sub.add_parser("build", help="build the DuckDB database from accounts and interactions files")
    build.add_argument("--accounts", type=Path, required=True, help="accounts CSV or Parquet file")
    build.add_argument("--interactions", type=Path, required=True, help="interactions CSV or Parquet file")
    build.add_argument("--mrr-history", type=Path, help="optional mrr_history CSV or Parquet file")
    build.add_argument("--as-of", type=_parse_date, help="analysis date (default: the latest date in the inputs)")
    build.add_argument("--sla", help="first-response targets in hours, e.g. urgent=1,high=4,normal=8,low=24")
    build.add_argument("--db", type=Path, default=default_db_path(),
                       help="database file (default $RETENTION_DB or data/retention.duckdb)")
    build.set_defaults(func=cmd_build)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (InputError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BuildError as exc:
        print(f"error: the build failed and the previous database was left as it was.\n{exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
