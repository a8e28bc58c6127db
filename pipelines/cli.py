"""The `retention` command: demo data, builds, and (later) models. Only this module prints."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

from .build import DEFAULT_DB_PATH, BuildError, StageEvent, build_database
from .models.drivers import DriversInputError
from .filters import FilterError
from .importers import ImportInputError
from .models.risk import RiskInputError
from .models.whatif import WhatIfInputError
from .load import InputError
from .settings import DEFAULT_DRIVERS_SAMPLE, DEFAULT_MEMORY_LIMIT_MB, BuildSettings, SettingsError, parse_sla


def default_db_path() -> Path:
    """RETENTION_DB points every command (and the app) at another database file."""
    return Path(os.environ.get("RETENTION_DB") or DEFAULT_DB_PATH)


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    """The --db option every command shares, defaulting to $RETENTION_DB or data/retention.duckdb."""
    parser.add_argument("--db", type=Path, default=default_db_path(),
                        help="database file (default $RETENTION_DB or data/retention.duckdb)")


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _print_stage(event: StageEvent) -> None:
    print(f"  {event.stage:<8} {event.table:<28} {event.rows:>12,} rows {event.seconds:>8.2f} s", flush=True)


def cmd_build(args: argparse.Namespace) -> int:
    settings = BuildSettings(as_of=args.as_of, sla_hours=parse_sla(args.sla) if args.sla else BuildSettings().sla_hours,
                             drivers_sample=args.drivers_sample or None, memory_limit_mb=args.memory_limit_mb)
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


def open_database_read_only(path: Path):
    import duckdb

    if not Path(path).exists():
        raise InputError(path, "no database here; build one with `retention build` (or `make run` for the demo)")
    return duckdb.connect(str(path), read_only=True)


def _split_list(text: str | None) -> list[str] | None:
    return [item.strip() for item in text.split(",") if item.strip()] if text else None


def cmd_drivers(args: argparse.Namespace) -> int:
    import json

    from .models.drivers import ServiceDrivers
    from .models.factor_effects import ROLES, FactorEffects

    con = open_database_read_only(args.db)
    drivers = ServiceDrivers(factors=_split_list(args.factors), covariates=_split_list(args.covariates),
                             filters=args.filter, max_accounts=args.sample or None).fit(con)
    columns = ["factor", "pillar", "unit", "hazard_ratio", "ci_lower", "ci_upper", "p_value"]
    effects = drivers.effects_.copy()
    # the term names the level for multi-term factors ("bad_interactions_90d: 2+ vs 0", "plan=Starter")
    effects["factor"] = effects["term"]
    if args.format == "json":
        print(json.dumps(drivers.to_json_dict(), indent=2, default=float))
    elif args.format == "csv":
        print(effects[columns].to_csv(index=False), end="")
    else:
        info = drivers.model_info_
        print(f"Service drivers of churn: {info['n_accounts']:,} accounts, {info['n_account_months']:,} "
              f"account-months, {info['n_events']:,} churns; concordance {info['concordance']:.3f}")
        if info.get("sample"):
            print(f"(a random sample of {info['sample']['accounts_fitted']:,} of {info['sample']['accounts_total']:,} "
                  f"accounts, seed {info['sample']['seed']}; --sample 0 fits every account)")
        print(f"{'term':<48}{'hazard ratio':>13}{'95% CI':>18}{'p':>10}  unit")
        for row in effects.itertuples():
            flag = "  (PH doubtful)" if row.ph_violated else ""
            print(f"{row.term:<48}{row.hazard_ratio:>13.3f}   {row.ci_lower:>6.3f} – {row.ci_upper:<6.3f}"
                  f"{row.p_value:>10.2g}  {row.unit}{flag}")
        for item in info["dropped_terms"]:
            print(f"dropped: {item['term']}: {item['reason']}")
        for note in info["notes"]:
            print(f"note: {note}")
        print("Mutually adjusted view: each hazard ratio above holds every other term fixed, including the "
              "factor's own consequences; read each factor's effect from its own model below.")
        if not args.factor_models:
            return 0
        named = _split_list(args.factors)
        factor_effects = FactorEffects(factors=None if named is None else [f for f in named if f in ROLES],
                                       covariates=_split_list(args.covariates), filters=args.filter).fit(con)
        print()
        print("Each factor's own model (adjusted for its confounders, never for its consequences; "
              "95% CI cluster-robust by account):")
        print(f"{'term':<40}{'hazard ratio':>13}{'95% CI':>18}{'E-value':>9}{'(CI)':>7}  unit")
        for row in factor_effects.effects_.itertuples():
            print(f"{row.term:<40}{row.hazard_ratio:>13.3f}   {row.ci_lower:>6.3f} – {row.ci_upper:<6.3f}"
                  f"{row.e_value:>9.2f}{row.e_value_ci:>7.2f}  {row.unit}")
        for factor, group in factor_effects.effects_.groupby("factor", sort=False):
            print(f"{factor}: adjusted for {group.adjusted_for.iloc[0]}; its consequences, left out: "
                  f"{group.not_adjusted_for.iloc[0]}")
        for note in factor_effects.notes_:
            print(f"note: {note}")
        print("These are estimated effects if the listed confounders are the important ones, not proof. The E-value "
              "is how strongly an unmeasured confounder would have to be tied to both the factor and churn (as a "
              "risk ratio) to explain the hazard ratio, or its interval's nearer limit, away.")
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
    build.add_argument("--drivers-sample", type=int, default=DEFAULT_DRIVERS_SAMPLE, metavar="N",
                       help=f"fit the drivers model on a random sample of N accounts when there are more "
                            f"(default {DEFAULT_DRIVERS_SAMPLE:,}; 0 fits every account, exactly)")
    build.add_argument("--memory-limit-mb", type=int, metavar="MB",
                       help=f"DuckDB's memory during the build (default the smaller of {DEFAULT_MEMORY_LIMIT_MB:,} "
                            "and half of RAM; more makes a large build faster, joins and sorts beyond it spill "
                            "to disk beside the database)")
    add_db_argument(build)
    build.set_defaults(func=cmd_build)

    drivers = sub.add_parser("drivers", help="which parts of service move churn: hazard ratios with 95% CIs")
    add_db_argument(drivers)
    drivers.add_argument("--factors", help="comma-separated service factors (default: all)")
    drivers.add_argument("--covariates", help="comma-separated account columns to adjust for (default: plan)")
    drivers.add_argument("--filter", action="append", default=[], metavar="COLUMN=VALUE",
                         help="fit on the accounts matching this segment value (repeatable)")
    drivers.add_argument("--sample", type=int, default=DEFAULT_DRIVERS_SAMPLE, metavar="N",
                         help=f"fit on a random sample of N accounts when there are more "
                              f"(default {DEFAULT_DRIVERS_SAMPLE:,}; 0 fits every account, exactly)")
    drivers.add_argument("--format", choices=("table", "json", "csv"), default="table")
    drivers.add_argument("--no-factor-models", dest="factor_models", action="store_false",
                         help="skip each factor's own adjusted model (shown after the mutually adjusted table)")
    drivers.set_defaults(func=cmd_drivers)

    from .bench import add_bench_parser
    from .importers.cli import add_import_parser
    from .models.revenue import add_revenue_parser
    from .models.risk import add_risk_parser
    from .serve import add_serve_parser
    from .models.survival import add_km_parser
    from .models.whatif import add_whatif_parser

    add_km_parser(sub)
    add_revenue_parser(sub)
    add_whatif_parser(sub)
    add_risk_parser(sub)
    add_import_parser(sub)
    add_bench_parser(sub)
    add_serve_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (InputError, SettingsError, DriversInputError, FilterError, WhatIfInputError, RiskInputError,
            ImportInputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BuildError as exc:
        print(f"error: the build failed and the previous database was left as it was.\n{exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
