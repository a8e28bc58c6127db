"""`retention whatif`: accounts and ARR a change in service would keep, with a 95% interval."""

from __future__ import annotations

import argparse
import json

from ..models.cause_whatif import CauseWhatIf
from ..models.whatif import WhatIf, paired_changes
from ..settings import WHATIF_DRAWS, WHATIF_HORIZON_DAYS
from .common import add_db_argument, money, open_database_read_only


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `retention whatif` on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "whatif",
        help="accounts and ARR a change in service would keep over a horizon, with a 95%% interval",
        description=(
            "Expected churned accounts and lost ARR (12 × MRR) over the horizon for the accounts active at "
            "as-of, under today's service measures and under changed ones, with the changed factor's own model. "
            "Pair each --factor with a --change, in order: -50% scales a time (first_response_hours, "
            "resolution_hours); -5pp shifts a rate (sla_breach_rate, reopen_rate, handoff_rate, escalation_rate, "
            "repeat_contact_rate, agent_update_rate); +0.5 shifts csat."
        ),
    )
    add_db_argument(parser)
    parser.add_argument("--factor", action="append", default=[], required=True, help="a service factor (repeatable)")
    parser.add_argument("--change", action="append", default=[], required=True,
                        help="its change: -50%%, -5pp or +0.5 (repeatable, paired with --factor in order)")
    parser.add_argument("--horizon-days", type=int, default=WHATIF_HORIZON_DAYS,
                        help=f"horizon in days (default {WHATIF_HORIZON_DAYS})")
    parser.add_argument("--draws", type=int, default=WHATIF_DRAWS,
                        help=f"coefficient draws for the interval (default {WHATIF_DRAWS})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    parser.add_argument("--by-cause", action="store_true",
                        help="move each churn cause by its own model (voluntary, involuntary, ...) and show what is "
                             "kept through each; needs a build whose data give churn reasons")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    model = CauseWhatIf if args.by_cause else WhatIf
    whatif = model(paired_changes(args.factor, args.change), horizon_days=args.horizon_days, n_draws=args.draws,
                   seed=args.seed)
    with open_database_read_only(args.db) as con:
        whatif.fit(con)
    if args.format == "json":
        print(json.dumps(whatif.to_json_dict(), indent=2))
    else:
        print(_cause_table_text(whatif) if isinstance(whatif, CauseWhatIf) else _table_text(whatif))
    return 0


def _table_text(whatif: WhatIf) -> str:
    r = whatif.result_
    level = f"{whatif.level:.0%}"
    lines = [
        "What-if: " + "; ".join(c.describe() for c in whatif.changes),
        f"{whatif.n_accounts_:,} active accounts, next {whatif.horizon_days} days.",
        "",
        f"{'':<26}{'today':>16}{'with the change':>18}{'kept':>16}   {level} interval",
        f"{'expected churned accounts':<26}{r['baseline']['expected_churned_accounts']:>16,.1f}"
        f"{r['scenario']['expected_churned_accounts']:>18,.1f}{r['accounts_kept']['estimate']:>16,.1f}"
        f"   {r['accounts_kept']['ci_lower']:,.1f} to {r['accounts_kept']['ci_upper']:,.1f}",
        f"{'expected lost ARR':<26}{money(r['baseline']['expected_lost_arr']):>16}"
        f"{money(r['scenario']['expected_lost_arr']):>18}{money(r['arr_kept']['estimate']):>16}"
        f"   {money(r['arr_kept']['ci_lower'])} to {money(r['arr_kept']['ci_upper'])}",
        "",
    ]
    lines += [f"note: {note}" for note in whatif.notes_]
    return "\n".join(lines)



def _cause_table_text(whatif: CauseWhatIf) -> str:
    r = whatif.result_
    level = f"{whatif.level:.0%}"
    lines = [
        "What-if by churn cause: " + "; ".join(c.describe() for c in whatif.changes),
        f"{whatif.n_accounts_:,} active accounts, next {whatif.horizon_days} days; each cause moved by its own model.",
        "",
        f"{'':<34}{'accounts kept':>15}   {level} interval{'':<8}{'ARR kept':>14}   {level} interval",
    ]
    rows = [(f"through {row['cause']} churn", row) for row in r["by_cause"]] + [("in all (the causes compete)", r)]
    for name, row in rows:
        accounts, arr = row["accounts_kept"], row["arr_kept"]
        lines.append(f"{name:<34}{accounts['estimate']:>15,.1f}   {accounts['ci_lower']:,.1f} to "
                     f"{accounts['ci_upper']:,.1f}{'':<6}{money(arr['estimate']):>14}   {money(arr['ci_lower'])} to "
                     f"{money(arr['ci_upper'])}")
    lines += ["", f"expected churned accounts today {r['baseline']['expected_churned_accounts']:,.1f}, with the change "
                  f"{r['scenario']['expected_churned_accounts']:,.1f}", ""]
    lines += [f"note: {note}" for note in whatif.notes_]
    return "\n".join(lines)
