"""`retention revenue`: next month's net revenue retention by quartile of each service measure."""

from __future__ import annotations

import argparse
import json
import math
import sys

import pandas as pd

from ..models.revenue import RevenueDrivers, ci_level_text
from .common import add_db_argument, open_database_read_only


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `retention revenue` on the CLI's subparsers."""
    revenue = subparsers.add_parser(
        "revenue",
        help="next month's net revenue retention by quartile of each service measure, with bootstrap CIs",
        description=(
            "For each service measure, account-months split into quartiles (1 = best service) and, per quartile, "
            "next month's net revenue retention (annualised), expansion, contraction and churned MRR, with 95% "
            "cluster-bootstrap intervals over accounts and the difference from the worst quartile. Needs a build "
            "with an mrr_history file. Descriptive: associations, not causes."
        ),
    )
    add_db_argument(revenue)
    revenue.add_argument("--format", choices=("table", "json", "csv"), default="table",
                         help="table (default): one block per factor; json: effects and model notes; csv: the effects")
    revenue.set_defaults(func=run)
    return revenue


def run(args: argparse.Namespace) -> int:
    with open_database_read_only(args.db) as con:
        model = RevenueDrivers().fit(con)
    if args.format == "json":
        print(json.dumps(model.to_json_dict(), indent=2, allow_nan=False))
    elif args.format == "csv":
        if model.reason_ is not None:
            print(f"note: {model.reason_}", file=sys.stderr)
        model.effects_.to_csv(sys.stdout, index=False, lineterminator="\n")
    else:
        print(_table_text(model))
    return 0


def _pct(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.1%}"


def _points(value: float) -> str:
    """A difference of two shares in percentage points."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{100 * value:+.1f} pp"


def _range(low: float, high: float) -> str:
    return f"{low:.3g}" if low == high else f"{low:.3g}–{high:.3g}"


def _table_text(model: RevenueDrivers) -> str:
    if model.reason_ is not None:
        return f"No revenue drivers: {model.reason_}."
    info = model.model_info_
    lines = [
        f"Revenue drivers: next month's net revenue retention (NRR) by quartile of each service measure; "
        f"{info['n_accounts']:,} accounts; {ci_level_text(info['ci_level'])} CIs from {info['n_resamples']} "
        "account-level bootstrap resamples",
        "Quartile 1 = best service. Annualised NRR = monthly NRR ** 12; 'vs worst' is the difference in annualised "
        "NRR in percentage points. Expansion, contraction and churned MRR are monthly shares of starting MRR.",
    ]
    header = (f"  {'q':>2} {'measure':>17} {'acct-months':>12} {'accounts':>9} {'NRR/month':>10} {'NRR/year':>9} "
              f"{'95% CI':>17} {'expand':>7} {'contract':>9} {'churned':>8}  {'vs worst (95% CI)'}")
    for factor, rows in model.effects_.groupby("factor", sort=False):
        first = rows.iloc[0]
        lines += ["", f"{factor} ({first.measure_column}; {first.direction}; pillar: {first.pillar})", header]
        for r in rows.itertuples():
            versus = "(reference)" if pd.isna(r.nrr_annualised_difference) else (
                f"{_points(r.nrr_annualised_difference)} ({_points(r.difference_ci_lower)} to "
                f"{_points(r.difference_ci_upper)}) vs Q{r.vs_quartile}")
            lines.append(
                f"  {r.quartile:>2} {_range(r.measure_low, r.measure_high):>17} {r.n_account_months:>12,} "
                f"{r.n_accounts:>9,} {_pct(r.nrr_monthly):>10} {_pct(r.nrr_annualised):>9} "
                f"{_pct(r.ci_lower) + ' – ' + _pct(r.ci_upper):>17} {_pct(r.expansion_rate):>7} "
                f"{_pct(r.contraction_rate):>9} {_pct(r.churned_mrr_rate):>8}  {versus}")
    for item in info.get("dropped_factors", []):
        lines.append(f"dropped: {item['factor']}: {item['reason']}")
    lines += ["", "Descriptive: one measure at a time, no adjustment for plan, size, tenure or the other measures. "
                  "Differences are associations, not proof that changing the service changes revenue."]
    return "\n".join(lines)
