"""`retention evaluate`: did a support change keep customers? Its effect on churn after the fact, for the accounts it
reached against the others, in accounts and ARR, with what the estimate rests on."""

from __future__ import annotations

import argparse
import json

from ..models.change_effect import ChangeEffect, ChangeEffectError, expected_from_drivers, read_change_panel
from .common import add_db_argument, open_database_read_only, parse_date


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `retention evaluate` on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "evaluate", help="did a past support change keep customers: its effect on churn, in accounts and ARR",
        description=(
            "Difference-in-differences of the monthly churn hazard: the accounts the change reached (--treated) "
            "against the others, before and after --date, with tenure and the calendar held fixed; an event study "
            "of the months around the change, a pre-trend test and placebo dates; whether the service measures "
            "moved; and the accounts and ARR kept since the change and per year."),
    )
    add_db_argument(parser)
    parser.add_argument("--name", required=True, help="what the change was, e.g. \"EMEA hires\"")
    parser.add_argument("--date", type=parse_date, required=True, help="when it started (YYYY-MM-DD)")
    parser.add_argument("--treated", action="append", default=[], metavar="COLUMN=VALUE",
                        help="the accounts it reached (repeatable, all must hold), e.g. region=EMEA")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if not args.treated:
        raise ChangeEffectError("name the accounts the change reached with --treated (e.g. region=EMEA); a change "
                                "that reached every account needs an interrupted time series, which is not built yet")
    with open_database_read_only(args.db) as con:
        panel = read_change_panel(con, args.treated)
        fitted = ChangeEffect(args.date).fit(panel)
        expected = expected_from_drivers(con, fitted, panel.account_id[panel.is_treated].unique())
    result = fitted.to_json_dict(args.name, args.treated)
    result["expected_from_drivers"] = expected
    if args.format == "json":
        print(json.dumps(result, indent=2, default=float))
        return 0
    print(_table_text(result))
    return 0


def _money(value: float) -> str:
    return f"-${-value:,.0f}" if value < 0 else f"${value:,.0f}"


def _table_text(result: dict) -> str:
    ratio, counts = result["hazard_ratio"], result["counts"]
    since, per_year = result["accounts_kept"]["since_change"], result["accounts_kept"]["per_year"]
    arr_since, arr_year = result["arr_kept"]["since_change"], result["arr_kept"]["per_year"]
    lines = [
        f"{result['name']}, from {result['date']}: {', '.join(result['treated'])} "
        f"({counts['treated_accounts']:,} accounts) against the others ({counts['comparison_accounts']:,}).",
        result["verdict"],
        "",
        "Did the service move? (difference-in-differences of each measure, 95% interval)",
    ]
    for row in result["service_change"]:
        if row["scale"] == "relative":
            change = f"{row['estimate']:+.0%} ({row['ci_lower']:+.0%} to {row['ci_upper']:+.0%})"
        else:
            change = f"{row['estimate']:+.3f} ({row['ci_lower']:+.3f} to {row['ci_upper']:+.3f})"
        lines.append(f"  {row['label']:<34} reached {row['reached_before']:>8.3g} -> {row['reached_after']:<8.3g} "
                     f"others {row['others_before']:>8.3g} -> {row['others_after']:<8.3g} change {change}")
    lines += [
        "",
        f"Churn hazard ratio of the reached accounts after the change: {ratio['estimate']:.2f} "
        f"(95% interval {ratio['ci_lower']:.2f} to {ratio['ci_upper']:.2f})",
        f"Accounts kept since the change: {since['estimate']:,.1f} ({since['ci_lower']:,.1f} to "
        f"{since['ci_upper']:,.1f}); ARR {_money(arr_since['estimate'])} ({_money(arr_since['ci_lower'])} to "
        f"{_money(arr_since['ci_upper'])})",
        f"Per year from now: {per_year['estimate']:,.1f} accounts ({per_year['ci_lower']:,.1f} to "
        f"{per_year['ci_upper']:,.1f}); ARR {_money(arr_year['estimate'])} ({_money(arr_year['ci_lower'])} to "
        f"{_money(arr_year['ci_upper'])})",
        "",
        "Expected against observed: " + result["expected_from_drivers"]["sentence"],
        "",
        "Months around the change (hazard ratio against the month before it, 95% interval):",
    ]
    for row in result["event_study"]:
        lines.append(f"  {row['months_from_change']:+3d}  {row['estimate']:.2f} ({row['ci_lower']:.2f} to "
                     f"{row['ci_upper']:.2f})")
    lines += ["", "Placebo dates (the same estimate before the change, which should find nothing):"]
    lines += [f"  {p['date']}: {p['estimate']:.2f} ({p['ci_lower']:.2f} to {p['ci_upper']:.2f})"
              for p in result["placebos"]] or ["  none: too few months before the change"]
    lines += [""] + [f"note: {note}" for note in result["notes"][1:]]  # the first is the verdict, said above
    return "\n".join(lines)
