"""`retention drivers`: the mutually adjusted drivers model, then each factor's own adjusted model."""

from __future__ import annotations

import argparse
import json

import pandas as pd

from ..models.cause_effects import modelled_causes
from ..models.drivers import DriversInputError, ServiceDrivers
from ..models.effects_report import effects_report, effects_report_json
from ..models.factor_effects import FactorEffects, stored_structure
from ..models.fits_in_threads import one_blas_thread
from ..settings import DEFAULT_DRIVERS_SAMPLE
from .common import add_db_argument, open_database_read_only, split_list


def add_parser(sub) -> None:
    drivers = sub.add_parser("drivers", help="which parts of service move churn: hazard ratios with 95%% CIs")
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
    drivers.add_argument("--by-cause", action="store_true",
                         help="each factor's own model of churn from each churn cause the build modelled "
                              "(voluntary, involuntary, ...), the other causes censored, side by side")
    drivers.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # fitted as the build fits them: the factors' models side by side, each with BLAS on one thread
    with one_blas_thread():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    con = open_database_read_only(args.db)
    if args.by_cause:
        return _by_cause(con, args)
    drivers = ServiceDrivers(factors=split_list(args.factors), covariates=split_list(args.covariates),
                             filters=args.filter, max_accounts=args.sample or None).fit(con)
    effects = drivers.effects_
    named = split_list(args.factors)
    structure = stored_structure(con)
    factor_effects = FactorEffects(factors=None if named is None else [f for f in named if f in structure.factors],
                                   covariates=split_list(args.covariates), filters=args.filter,
                                   structure=structure).fit(con) if args.factor_models else None
    if args.format in ("json", "csv"):
        # the table the app's downloads hold: each factor's own model, the one to act on, before the mutually adjusted
        table = effects_report(effects, None if factor_effects is None else factor_effects.effects_)
        if args.format == "csv":
            print(table.to_csv(index=False), end="")
            return 0
        about: dict[str, object] = {"model": drivers.model_info_}
        if factor_effects is not None:
            about.update(factor_effects_notes=factor_effects.notes_, causal_structure=structure.in_words)
        print(json.dumps(effects_report_json(table, **about), indent=2))
        return 0
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
    if factor_effects is None:
        return 0
    print()
    print(f"Each factor's own model (adjusted for its confounders, never for its consequences, as "
          f"{structure.in_words} orders them; 95% CI cluster-robust by account):")
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


CAUSE_COLUMNS = ["churn_cause", "factor", "term", "label", "unit", "hazard_ratio", "ci_lower", "ci_upper", "p_value",
                 "e_value", "e_value_ci", "n_events", "adjusted_for"]


def _by_cause(con, args: argparse.Namespace) -> int:
    """Each factor's own model per churn cause, fitted here with the command's factors, covariates and filters."""
    causes = modelled_causes(con)
    if not causes:
        raise DriversInputError("this build has no models by churn cause: the data give no churn reasons (add a "
                         "churn_reason column to the accounts file), or no cause had enough churned accounts")
    structure = stored_structure(con)
    named = split_list(args.factors)
    factors = None if named is None else [f for f in named if f in structure.factors]
    fits = {cause: FactorEffects(factors=factors, covariates=split_list(args.covariates), filters=args.filter,
                                 structure=structure, cause=cause, outcome_models=False).fit(con) for cause in causes}
    table = pd.concat([fit.effects_.assign(churn_cause=cause) for cause, fit in fits.items()], ignore_index=True)
    table = table[CAUSE_COLUMNS]
    if args.format == "csv":
        print(table.to_csv(index=False), end="")
        return 0
    if args.format == "json":
        print(json.dumps({"causes": causes, "effects": json.loads(table.to_json(orient="records")),
                          "notes": {cause: fit.notes_ for cause, fit in fits.items()},
                          "causal_structure": structure.in_words}, indent=2))
        return 0
    print("Each factor's own model of churn from each cause (the other causes censored: among accounts still "
          "customers, how much faster they churn for this reason); hazard ratio (95% CI, cluster-robust by account)")
    print(f"{'term':<40}" + "".join(f"{cause:>28}" for cause in causes))
    for term, rows in table.groupby("term", sort=False):
        cells = rows.set_index("churn_cause")
        line = f"{term:<40}"
        for cause in causes:
            if cause in cells.index:
                row = cells.loc[cause]
                line += f"{row.hazard_ratio:>10.3f} ({row.ci_lower:.3f}–{row.ci_upper:.3f})"
            else:
                line += f"{'not estimated':>28}"
        print(line)
    print("churns per cause: " + ", ".join(f"{cause} {int(fit.effects_.n_events.max()) if len(fit.effects_) else 0:,}"
                                           for cause, fit in fits.items()))
    for cause, fit in fits.items():
        for note in fit.notes_:
            print(f"note ({cause}): {note}")
    return 0
