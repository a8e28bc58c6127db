"""`retention km`: Kaplan-Meier survival, overall or by segment, with intervals and a log-rank test."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ..models.survival import KaplanMeier, SurvivalInputError
from .common import add_db_argument, open_database_read_only


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `retention km` on the CLI's subparsers."""
    km = subparsers.add_parser(
        "km",
        help="Kaplan-Meier survival of accounts, overall or by segment",
        description=(
            "Kaplan-Meier survival of accounts (time = days since signup, censored at the as-of date), "
            "overall or per level of a column, with medians, survival at 90/180/365/730 days, restricted "
            "mean survival (RMST) to 1 and 2 years, a log-rank test and a revenue-weighted curve. "
            "A numeric column with more than 4 distinct values is grouped by quartile."
        ),
    )
    add_db_argument(km)
    km.add_argument("--by", metavar="COLUMN",
                    help="a segment column, signup_cohort_month, signup_year or mrr (default: all accounts)")
    km.add_argument("--filter", metavar="COLUMN=VALUE", action="append", default=[], dest="filters",
                    help="keep matching accounts; repeat to AND several; also != < <= > >= on numbers and months")
    km.add_argument("--reference", metavar="GROUP", help="the group RMST differences are taken against (default: the first)")
    km.add_argument("--format", choices=("table", "json", "csv"), default="table",
                    help="table (default): a summary; json: everything; csv: only the curves")
    km.set_defaults(func=run)
    return km


def run(args: argparse.Namespace) -> int:
    con = open_database_read_only(Path(args.db))  # an InputError (exit 2) for no database, or not one of ours
    try:
        model = KaplanMeier(by=args.by, filters=args.filters, reference=args.reference).fit(con)
    except SurvivalInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        con.close()

    if args.format == "csv":
        model.curves_.to_csv(sys.stdout, index=False, lineterminator="\n")
    elif args.format == "json":
        print(json.dumps(model.to_json_dict(), indent=2, allow_nan=False))
    else:
        print(_table_text(model))
    return 0


def _fmt_days(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if math.isinf(value):
        return "not reached"
    return f"{value:,.0f} days"


def _fmt_share(value: float, lower: float | None = None, upper: float | None = None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    text = f"{value:.1%}"
    if lower is not None and not math.isnan(lower):
        text += f" ({lower:.1%}-{upper:.1%})"
    return text


def _table_text(model: KaplanMeier) -> str:
    filters = ", ".join(f["text"] for f in model.filters_) or "none"
    lines = [
        f"Kaplan-Meier survival of accounts: {model.grouping_}",
        f"as-of {model.as_of_}; {model.n_accounts_:,} accounts; filters: {filters}; 95% confidence intervals",
        "",
    ]
    rmst = model.rmst_.set_index(["group", "tau_days"])
    differences = model.rmst_differences_.set_index(["group", "tau_days"])
    for row in model.summary_.to_dict("records"):
        g = row["group"]
        churn_share = row["n_churned"] / row["n_accounts"]
        lines.append(f"{g}")
        lines.append(f"  accounts {row['n_accounts']:,}   churned {row['n_churned']:,} ({churn_share:.1%})   "
                     f"still active (censored) {row['n_censored']:,}   followed up to {row['last_observed_days']:,} days")
        median = _fmt_days(row["median_survival_days"])
        lines.append(f"  median lifetime: {median} (95% CI {_fmt_days(row['median_ci_lower_days'])} to "
                     f"{_fmt_days(row['median_ci_upper_days'])})")
        survival = "   ".join(
            f"{h}d {_fmt_share(row[f'survival_{h}d'], row[f'survival_{h}d_ci_lower'], row[f'survival_{h}d_ci_upper'])}"
            for h in model.horizons_days
        )
        lines.append(f"  still a customer: {survival}")
        revenue = "   ".join(f"{h}d {_fmt_share(row[f'revenue_retained_share_{h}d'])}" for h in model.horizons_days)
        lines.append(f"  MRR retained:     {revenue}")
        parts = []
        for tau in model.rmst_horizons_days:
            r = rmst.loc[(g, tau)]
            if math.isnan(r["rmst_days"]):
                parts.append(f"{tau}d n/a")
            else:
                parts.append(f"{tau}d {r['rmst_days']:,.1f} ({r['ci_lower_days']:,.1f} to {r['ci_upper_days']:,.1f})")
        if parts:
            lines.append(f"  mean days as a customer within (RMST): {'   '.join(parts)}")
        if model.rmst_horizons_days and (g, model.rmst_horizons_days[0]) in differences.index:
            parts = []
            for tau in model.rmst_horizons_days:
                d = differences.loc[(g, tau)]
                if math.isnan(d["difference_days"]):
                    parts.append(f"{tau}d n/a")
                else:
                    parts.append(f"{tau}d {d['difference_days']:+,.1f} ({d['ci_lower_days']:+,.1f} to "
                                 f"{d['ci_upper_days']:+,.1f})")
            lines.append(f"  RMST vs {model.reference_group_}: {'   '.join(parts)}")
        lines.append("")
    if model.logrank_:
        lr = model.logrank_
        lines.append(f"Log-rank test ({len(model.groups_)} groups): chi-square {lr['test_statistic']:.2f}, "
                     f"df {lr['degrees_of_freedom']}, p = {lr['p_value']:.3g}")
    else:
        lines.append("Log-rank test: needs two or more groups.")
    lines.append("")
    lines.extend(f"Note: {note}" for note in model.notes())
    return "\n".join(lines)
