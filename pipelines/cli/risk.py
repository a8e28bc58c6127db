"""`retention risk`: each active account's churn probability, ARR at risk and the factors behind it; with
`--by-cause`, its probability of churning from each cause as well."""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from ..models.calibration import calibration_sentence, read_calibration
from ..models.cause_risk import CauseRisk
from ..models.risk import AccountRisk, RiskInputError
from .common import add_db_argument, money, open_database_read_only


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `retention risk` on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "risk",
        help="active accounts most likely to churn in the next 90 days, with ARR at risk and why",
        description=(
            "Each active account's probability of churning in the next 90 days (from the service drivers "
            "model and the tenure-specific baseline hazard, holding its current measures fixed), ARR at risk "
            "(probability × 12 × MRR) and the two factors that raise its risk most against a typical account; "
            "plus the build's check of the model on a time split: refitted on the data up to 90 (and 365) days "
            "before as-of, its predicted churn of the accounts active then against what happened."
        ),
    )
    add_db_argument(parser)
    parser.add_argument("--top", type=int, default=50, help="how many accounts to list (default 50; 0 = all)")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.add_argument("--by-cause", action="store_true",
                        help="add each account's probability of churning from each churn cause (voluntary, "
                             "involuntary, ...) in the next 90 days, the causes competing, from each cause's own "
                             "model; needs churn reasons in the accounts file")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if args.top < 0:
        raise RiskInputError("--top must be 0 (all) or a positive number of accounts")
    with open_database_read_only(args.db) as con:
        # first, so a build without churn reasons says so before the longer fit
        by_cause = CauseRisk().fit(con) if args.by_cause else None
        risk = AccountRisk().fit(con)
        calibration = read_calibration(con, "risk")
    accounts = risk.accounts_ if args.top == 0 else risk.accounts_.head(args.top)
    accounts = accounts.rename(columns={"churn_probability": f"churn_probability_{risk.horizon_days}d"})
    causes: dict[str, str] = {}
    if by_cause is not None:
        causes = {cause: f"churn_probability_{by_cause.horizon_days}d_{cause}" for cause in by_cause.causes_}
        columns = by_cause.by_account().rename(columns=causes)
        position = accounts.columns.get_loc(f"churn_probability_{risk.horizon_days}d") + 1
        merged = accounts.merge(columns, on="account_id", how="left", validate="one_to_one")
        order = [*accounts.columns[:position], *causes.values(), *accounts.columns[position:]]
        accounts = merged[order]
    if args.format == "csv":
        accounts.to_csv(sys.stdout, index=False, lineterminator="\n")
    elif args.format == "json":
        payload = {
            "accounts": json.loads(accounts.to_json(orient="records", date_format="iso")),
            "calibration": json.loads(calibration.to_json(orient="records", date_format="iso")),
            "model": risk.model_info_,
        }
        if by_cause is not None:
            payload["model_by_cause"] = by_cause.model_info_
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(_table_text(risk, accounts, calibration, causes))
    return 0



def _table_text(risk: AccountRisk, accounts: pd.DataFrame, calibration: pd.DataFrame,
                causes: dict[str, str] | None = None) -> str:
    """The list as text; `causes` maps each churn cause to its probability column (--by-cause), one column each."""
    info = risk.model_info_
    h = risk.horizon_days
    causes = causes or {}
    headers = {cause: f"{cause} {h}d" for cause in causes}
    widths = {cause: max(9, len(header) + 2) for cause, header in headers.items()}
    lines = [
        f"Churn risk in the next {h} days (as-of {info['as_of']}): {info['n_accounts']:,} active accounts, "
        f"expected {info['expected_churned_accounts']:,.0f} churns and {money(info['expected_lost_arr'])} ARR lost.",
    ]
    if causes:
        lines.append(f"'<cause> {h}d': the chance of churning from that cause in the next {h} days, the causes "
                     "competing, from each cause's own model; they add up to those models' chance of churning at "
                     "all, which can differ a little from P(churn), the model of all churn.")
    lines += [
        "",
        f"{'rank':>5}  {'account':<14}{'P(churn)':>9}" + "".join(f"{headers[c]:>{widths[c]}}" for c in causes)
        + f"{'ARR at risk':>13}{'ARR':>11}{'tenure':>8}  why (vs a typical account)",
    ]
    for row in accounts.to_dict("records"):
        why = "; ".join(f for f in (row["top_factor_1"], row["top_factor_2"]) if f) or "-"
        by_cause = "".join(f"{row[column]:>{widths[cause]}.1%}" for cause, column in causes.items())
        lines.append(f"{row['risk_rank']:>5}  {row['account_id']:<14}{row[f'churn_probability_{h}d']:>9.1%}{by_cause}"
                     f"{money(row['arr_at_risk']):>13}{money(row['arr']):>11}{row['tenure_days']:>7}d  {why}")
    lines.append("")
    overall = calibration[calibration.decile.isna()]
    if overall.empty:
        lines.append("Holdout check: none stored in this build (rebuild to make one, or too little history).")
    for row in overall.to_dict("records"):
        lines.append(f"Holdout check, {int(row['horizon_days'])} days: {calibration_sentence(row)} "
                     f"Concordance {row['concordance']:.3f} (0.5 = chance).")
    deciles = calibration[calibration.decile.notna() & (calibration.horizon_days == h)]
    if len(deciles):
        lines.append(f"{'decile':>7}{'accounts':>10}{'predicted':>11}{'observed':>10}   observed 95% CI")
        for row in deciles.itertuples(index=False):
            lines.append(f"{row.decile:>7}{row.n_accounts:>10,}{row.predicted_mean:>11.1%}{row.observed_rate:>10.1%}"
                         f"   {row.observed_ci_lower:.1%} – {row.observed_ci_upper:.1%}")
    for note in info["notes"]:
        lines.append(f"note: {note}")
    lines.append("Risk factors are associations in the model, not proof that changing them changes churn.")
    return "\n".join(lines)
