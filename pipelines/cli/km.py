"""`retention km`: Kaplan-Meier survival, overall or by segment, with intervals and a log-rank test; with
`--by-cause`, the share of accounts churned from each churn cause (cumulative incidence) instead."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ..models.competing_risks import CauseIncidence, CompetingRisksInputError
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
    km.add_argument("--by-cause", action="store_true",
                    help="split churn by cause (voluntary, involuntary, ... from the accounts' churn_reason): the "
                         "share of accounts churned from each cause by 90/180/365/730 days (cumulative incidence, "
                         "95%% intervals) and the churned accounts per cause; needs churn reasons in the data")
    km.add_argument("--format", choices=("table", "json", "csv"), default="table",
                    help="table (default): a summary; json: everything; csv: only the curves (with --by-cause: "
                         "the shares at each horizon)")
    km.set_defaults(func=run)
    return km


def run(args: argparse.Namespace) -> int:
    if args.by_cause and args.reference is not None:
        print("error: --reference names the group RMST differences are taken against; --by-cause compares no "
              "groups, leave it out", file=sys.stderr)
        return 2
    con = open_database_read_only(Path(args.db))  # an InputError (exit 2) for no database, or not one of ours
    try:
        # --by-cause: each cause's cumulative incidence at the horizons, per group
        model: KaplanMeier | CauseIncidence = (
            CauseIncidence(by=args.by, filters=args.filters) if args.by_cause
            else KaplanMeier(by=args.by, filters=args.filters, reference=args.reference)).fit(con)
    except (CompetingRisksInputError, SurvivalInputError) as exc:  # by cause: also no churn reasons among them
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        con.close()

    if args.format == "csv":
        table = model.summary_ if isinstance(model, CauseIncidence) else model.curves_
        table.to_csv(sys.stdout, index=False, lineterminator="\n")
    elif args.format == "json":
        print(json.dumps(model.to_json_dict(), indent=2, allow_nan=False))
    else:
        print(_cause_table_text(model) if isinstance(model, CauseIncidence) else _table_text(model))
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


def _cause_table_text(model: CauseIncidence) -> str:
    filters = ", ".join(f["text"] for f in model.filters_) or "none"
    percent = f"{model.level:.0%}"
    lines = [
        f"Churn by cause (cumulative incidence, Aalen-Johansen): {model.grouping_}",
        f"as-of {model.as_of_}; {model.n_accounts_:,} accounts; filters: {filters}; {percent} confidence intervals",
        "Share of accounts that had churned from each cause by each day since signup.",
        "",
    ]
    summary = model.summary_.set_index(["group", "cause", "horizon_days"])
    still = model.still_customer_.set_index(["group", "horizon_days"])["survival"]
    header = ["", "accounts", *[f"{h}d" for h in model.horizons_days]]
    for group in model.group_summary_.to_dict("records"):
        g = group["group"]
        table = [header]
        for cause in model.causes_:
            shares = [summary.loc[(g, cause, h)] for h in model.horizons_days]
            n_churned = int(shares[0]["n_churned"]) if shares else 0
            table.append([f"churned, {cause}", f"{n_churned:,}",
                          *[_fmt_share(s["cumulative_incidence"], s["ci_lower"], s["ci_upper"]) for s in shares]])
        n_still = group["n_accounts"] - group["n_churned"]
        table.append(["still a customer (at as-of)", f"{n_still:,}",
                      *[_fmt_share(still.loc[(g, h)]) for h in model.horizons_days]])
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        lines.append(f"{g}")
        lines.append(f"  accounts {group['n_accounts']:,}   churned {group['n_churned']:,}   "
                     f"followed up to {group['last_observed_days']:,} days")
        for row in table:
            cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
            lines.append("  " + "   ".join(cells).rstrip())
        lines.append("")
    lines.extend(f"Note: {note}" for note in model.notes())
    return "\n".join(lines)
