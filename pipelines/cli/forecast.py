"""`retention forecast`: active accounts, churn, MRR, ARR and revenue retention for each month ahead, with 80% and
95% intervals; `--backtest` checks the forecast against what happened after past origins."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

import pandas as pd

from ..models.forecast import (ForecastInputError, RetentionForecast, backtest_summary, flat_measures, read_inputs,
                               total_backtest)
from .common import add_db_argument, open_database_read_only

def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `retention forecast` on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "forecast",
        help="accounts, MRR and revenue retention for each month ahead, with 80%% and 95%% intervals",
        description=(
            "For each month after the as-of date: active and churned accounts, MRR, ARR, and the existing base's "
            "gross and net revenue retention, with 80%% and 95%% intervals from a seeded simulation (the churn "
            "rates' uncertainty, the base's month-to-month swing in churn, which accounts churn, new business). "
            "The existing base follows a life table per plan and tenure month; new business the trend of the last "
            "two years' signups. --backtest forecasts from past origins on what was known then and sets the "
            "forecast beside what happened and beside the naive baseline (the last three months carried forward)."
        ),
    )
    add_db_argument(parser)
    parser.add_argument("--months", type=int, help="months ahead (default 12; 6 with --backtest)")
    parser.add_argument("--as-of", type=date.fromisoformat, metavar="DATE",
                        help="forecast from this date, on what was known then (default: the build's as-of)")
    parser.add_argument("--filter", action="append", default=[], metavar="COLUMN=VALUE",
                        help="forecast the matching accounts only (repeatable, as for km)")
    parser.add_argument("--new-business", choices=("on", "off"), default="on",
                        help="include accounts that sign up after the as-of date (default on)")
    parser.add_argument("--draws", type=int, default=2000, help="simulations (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulations (default 0)")
    parser.add_argument("--backtest", action="store_true",
                        help="check the forecast against what happened after past origins")
    parser.add_argument("--origins", type=int, default=12, help="past origins for --backtest, a month apart (default 12)")
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    with open_database_read_only(args.db) as con:
        inputs = read_inputs(con, args.filter)
    origin = args.as_of or inputs.as_of
    if origin > inputs.as_of:
        raise ForecastInputError(f"--as-of {origin} is after the build's as-of date {inputs.as_of}: nothing is known "
                                 "then")
    if args.backtest:
        return _backtest(args, inputs, origin)
    forecast = RetentionForecast(months=12 if args.months is None else args.months, draws=args.draws, seed=args.seed,
                                 new_business=args.new_business == "on").fit(inputs.accounts, origin, inputs.mrr)
    document = forecast.document_
    if args.format == "json":
        print(json.dumps(document, indent=2))
    elif args.format == "csv":
        rows = [{"month": row["month"], "measure": measure, **summary}
                for row in forecast.series_ for measure, summary in flat_measures(row)]
        pd.DataFrame(rows).to_csv(sys.stdout, index=False, lineterminator="\n")
    else:
        print(_table(document, forecast.series_))
    return 0


def _table(document: dict, series: list[dict]) -> str:
    lines = [f"Forecast from {document['as_of']}, {document['months']} months ahead ({document['draws']:,} simulations; "
             "80% intervals in brackets)", "",
             f"{'month':<9}{'active accounts':>26}{'MRR':>42}{'net revenue retention':>30}"]
    for row in series:
        accounts = row["active_accounts"]
        line = f"{row['month']:<9}{_interval(accounts, '{:,.0f}'):>26}"
        if "mrr" in row:
            line += f"{_interval(row['mrr'], '${:,.0f}'):>42}"
        if "net_revenue_retention" in row:
            line += f"{_interval(row['net_revenue_retention'], '{:.1%}'):>30}"
        lines.append(line)
    lines.append("")
    if "churned_by_cause" in series[-1]:
        last = series[-1]
        lines.append(f"churned by {last['month']}, by cause: " + "; ".join(
            f"{cause} {_interval(summary, '{:,.0f}')}" for cause, summary in last["churned_by_cause"].items()))
        lines.append("")
    lines += [f"note: {note}" for note in document["notes"]]
    return "\n".join(lines)


def _interval(summary: dict, pattern: str) -> str:
    return (f"{pattern.format(summary['estimate'])} ({pattern.format(summary['lower_80'])}–"
            f"{pattern.format(summary['upper_80'])})")


def _backtest(args: argparse.Namespace, inputs, origin: date) -> int:
    months = 6 if args.months is None else args.months
    result = total_backtest(inputs.accounts, inputs.mrr, origin, origins=args.origins, months=months,
                            draws=args.draws, seed=args.seed)
    summary = backtest_summary(result)
    if args.format == "json":
        print(json.dumps({"as_of": str(origin), "origins": args.origins, "months": months,
                          "summary": json.loads(summary.to_json(orient="records")),
                          "points": json.loads(result.to_json(orient="records", date_format="iso"))}, indent=2))
    elif args.format == "csv":
        result.to_csv(sys.stdout, index=False, lineterminator="\n")
    else:
        print(f"Backtest: {args.origins} origins a month apart, {months} months ahead each, forecast on what was "
              f"known at the origin")
        print(f"{'measure':<24}{'80% intervals hold':>20}{'95% intervals hold':>20}"
              f"{f'error at {months} months':>20}{'naive baseline':>16}{'sBG per cohort':>16}")
        for row in summary.itertuples():
            sbg = "—" if pd.isna(row.sbg_error) else f"{row.sbg_error:.1%}"
            print(f"{row.measure:<24}{row.in_80:>20.0%}{row.in_95:>20.0%}{row.error:>20.1%}{row.naive_error:>16.1%}"
                  f"{sbg:>16}")
        print("note: the naive baseline carries the last three months' churn rate, new accounts and MRR growth "
              "forward; the sBG (shifted-beta-geometric, Fader & Hardie 2007) fits each signup month's retention "
              "and forecasts today's accounts only; error is the mean absolute percentage error at the longest "
              "horizon")
    return 0
