"""`retention evaluate`: did a support change keep customers? Its effect on churn after the fact, for the accounts it
reached against the others, in accounts and ARR, with what the estimate rests on."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..change_events import ChangeEvent, Rollout, find_event, read_events
from ..models.change_effect import ChangeEffectError
from ..models.change_evaluation import DESIGNS, evaluate
from .common import add_db_argument, money, open_database_read_only, parse_date


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `retention evaluate` on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "evaluate", help="did a past support change keep customers: its effect on churn, in accounts and ARR",
        description=(
            "The effect of a past change on the monthly churn hazard, with tenure and the calendar held fixed: "
            "difference-in-differences when it reached some accounts (--treated) on one date, group-time effects "
            "against the accounts not yet reached for a rollout in steps (--events), an interrupted time series "
            "when it reached everyone, or synthetic control on request (--design synthetic); the months around the "
            "change, a test of what the estimate rests on and placebo dates; whether the service measures moved; "
            "the accounts and ARR kept since the change and per year; and what the drivers model expected."),
    )
    add_db_argument(parser)
    parser.add_argument("--name", required=True, help="what the change was, e.g. \"EMEA hires\" (with --events: "
                                                      "the change of that name in the file)")
    parser.add_argument("--date", type=parse_date, help="when it started (YYYY-MM-DD)")
    parser.add_argument("--treated", action="append", default=[], metavar="COLUMN=VALUE",
                        help="the accounts it reached (repeatable, all must hold), e.g. region=EMEA; none: every "
                             "account")
    parser.add_argument("--events", type=Path, metavar="FILE",
                        help="a CSV of recorded changes (name, date, treated; one row per step of a rollout) to "
                             "take the change from instead of --date and --treated")
    parser.add_argument("--design", choices=("auto", *DESIGNS), default="auto",
                        help="auto (the design the rollout allows) or one of them by name")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(func=run)
    return parser


def _event(args: argparse.Namespace) -> ChangeEvent:
    if args.events is not None:
        if args.date is not None or args.treated:
            raise ChangeEffectError("give the change either in the events file (--events) or with --date and "
                                    "--treated, not both")
        return find_event(read_events(args.events), args.name, args.events)
    if args.date is None:
        raise ChangeEffectError("say when the change started (--date YYYY-MM-DD), or take it from a file of "
                                "recorded changes (--events FILE)")
    return ChangeEvent(args.name, (Rollout(args.date, tuple(args.treated)),))


def run(args: argparse.Namespace) -> int:
    event = _event(args)
    with open_database_read_only(args.db) as con:
        result = evaluate(con, event, args.design)
    if args.format == "json":
        print(json.dumps(result, indent=2, default=str))
        return 0
    print(_table_text(result))
    return 0



def _table_text(result: dict) -> str:
    ratio, accounts = result["hazard_ratio"], result["accounts"]
    since, per_year = result["accounts_kept"]["since_change"], result["accounts_kept"]["per_year"]
    arr_since, arr_year = result["arr_kept"]["since_change"], result["arr_kept"]["per_year"]
    steps = "; ".join(f"{', '.join(step['treated']) or 'every account'} from {step['date']}"
                      for step in result["rollouts"])
    lines = [
        f"{result['name']}: {steps} ({accounts['treated_accounts']:,} accounts reached, "
        f"{accounts['comparison_accounts']:,} not). Design: {result['design']}.",
        result["verdict"],
        "",
        "Did the service move? (" + ("difference-in-differences of each measure" if result["accounts"][
            "comparison_accounts"] else "each measure after the change against before it") + ", 95% interval)",
    ]
    for row in result["service_change"]:
        if row["scale"] == "relative":
            change = f"{row['estimate']:+.0%} ({row['ci_lower']:+.0%} to {row['ci_upper']:+.0%})"
        else:
            change = f"{row['estimate']:+.3f} ({row['ci_lower']:+.3f} to {row['ci_upper']:+.3f})"
        others = (f"others {row['others_before']:>8.3g} -> {row['others_after']:<8.3g} "
                  if row["others_before"] is not None else "")
        lines.append(f"  {row['label']:<34} reached {row['reached_before']:>8.3g} -> {row['reached_after']:<8.3g} "
                     f"{others}change {change}")
    lines += [
        "",
        f"Churn hazard ratio of the reached accounts after the change: {ratio['estimate']:.2f} "
        f"(95% interval {ratio['ci_lower']:.2f} to {ratio['ci_upper']:.2f})",
        f"Accounts kept since the change: {since['estimate']:,.1f} ({since['ci_lower']:,.1f} to "
        f"{since['ci_upper']:,.1f}); ARR {money(arr_since['estimate'])} ({money(arr_since['ci_lower'])} to "
        f"{money(arr_since['ci_upper'])})",
        f"Per year from now: {per_year['estimate']:,.1f} accounts ({per_year['ci_lower']:,.1f} to "
        f"{per_year['ci_upper']:,.1f}); ARR {money(arr_year['estimate'])} ({money(arr_year['ci_lower'])} to "
        f"{money(arr_year['ci_upper'])})",
        "",
        "Expected against observed: " + result["expected_from_drivers"]["sentence"],
        "",
        "Months around the change (hazard ratio against the month before it, 95% interval):",
    ]
    for row in result["event_study"]:
        lines.append(f"  {int(row['months_from_change']):+3d}  {row['estimate']:.2f} ({row['ci_lower']:.2f} to "
                     f"{row['ci_upper']:.2f})")
    lines += ["", "Placebo dates (the same estimate before the change, which should find nothing):"]
    lines += [f"  {p.get('date') or p.get('unit')}: {p['estimate']:.2f}"
              + (f" ({p['ci_lower']:.2f} to {p['ci_upper']:.2f})" if "ci_lower" in p else "")
              for p in result["placebos"]] or ["  none: too few months before the change"]
    lines += [""] + [f"note: {note}" for note in result["notes"][1:]]  # the first is the verdict, said above
    return "\n".join(lines)
