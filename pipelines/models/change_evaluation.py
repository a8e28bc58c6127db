"""Evaluate a recorded support change: the design its rollout allows, the effect on churn, what it was worth, how
sure we are, and whether the drivers model saw it coming.

The design follows the rollout (`choose_design`):

- some accounts reached on one date, the others not: difference-in-differences (`change_effect.ChangeEffect`);
  on request, synthetic control of the reached group from the other groups of the same column
  (`change_synthetic.SyntheticControl`), the design for one reached group and a few comparison groups;
- steps on several dates (a staggered rollout): group-time effects against the accounts not yet reached
  (`change_staggered.StaggeredChangeEffect`), never the two-way fixed-effects regression, which is biased when
  the effect changes with time since adoption;
- every account on one date: an interrupted time series (`change_its.InterruptedTimeSeries`), the weakest: it
  credits the change with anything else that happened at the same time.

Every design hands back the same learned attributes (hazard_ratio_, event_study_, pre_trend_p_value_, placebos_,
counts_, rows_, notes_), so what the change kept, whether the service moved and the drivers model's expectation are
worked out here once, from the design's rows.
"""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd

from ..change_events import ChangeEvent, Rollout
from ..filters import filter_predicate, filterable_columns, parse_filters
from ..sqlrun import TrustedSql, execute_template
from .change_effect import (ChangeEffect, ChangeEffectError, PRE_TREND_ALPHA, accounts_kept, expected_from_drivers,
                            kept_a_year, read_change_panel, service_by_month, service_change)
from .change_its import InterruptedTimeSeries
from .change_staggered import StaggeredChangeEffect
from .change_synthetic import SyntheticControl

DESIGNS = {
    "did": "difference-in-differences",
    "staggered": "staggered difference-in-differences (group-time effects, Callaway–Sant'Anna)",
    "its": "interrupted time series",
    "synthetic": "synthetic control",
}
# what each design compares the reached accounts with, and what its estimate rests on, in words
COMPARED_WITH = {
    "did": "than the others' trend would predict",
    "staggered": "than the accounts not yet reached would predict",
    "its": "than their own trend and season before it would predict",
    "synthetic": "than the weighted mix of the other groups would predict",
}
RESTS_ON = {
    "did": "if both groups would otherwise have moved in parallel",
    "staggered": "if each group would otherwise have moved in parallel with those not yet reached",
    "its": "if nothing else changed at the same time and churn would otherwise have kept its trend and season",
    "synthetic": "if that mix would otherwise have tracked the reached group",
}
NOT_REACHED = "not reached"


def choose_design(event: ChangeEvent, requested: str = "auto") -> str:
    """The design the event's rollout allows (`requested`: auto, or one of DESIGNS); ChangeEffectError saying why
    when the requested one does not fit the rollout."""
    if requested not in ("auto", *DESIGNS):
        raise ChangeEffectError(f"unknown design {requested!r}; choose auto, {', '.join(DESIGNS)}")
    natural = "its" if event.reached_everyone else "staggered" if event.is_staggered else "did"
    if requested in ("auto", natural) or (natural == "did" and requested == "synthetic"):
        return natural if requested == "auto" else requested
    why = {"its": "it reached every account at once: there is no comparison group",
           "staggered": "it reached its accounts in steps on several dates",
           "did": "it reached some accounts on one date"}[natural]
    raise ChangeEffectError(f"{DESIGNS[requested]} does not fit {event.name!r}: {why}; use {DESIGNS[natural]} "
                            f"(--design {natural}){' or synthetic control' if natural == 'did' else ''}")


def _reached(con: duckdb.DuckDBPyConnection, rollout: Rollout, unit: TrustedSql | None = None) -> pd.DataFrame:
    columns = filterable_columns(con)
    predicate, params = filter_predicate(parse_filters(list(rollout.treated), columns))
    cursor = con.cursor()
    try:
        return execute_template(cursor, "change_reached_accounts", params, treated=predicate,
                                unit=unit or TrustedSql("null")).df()
    finally:
        cursor.close()


def read_event_panel(con: duckdb.DuckDBPyConnection, event: ChangeEvent, design: str) -> pd.DataFrame:
    """The account-month panel of read_change_panel with what the design needs: for a staggered rollout each
    account's `treated_from` (the date of the first step that reached it) and `cohort` (that step's accounts, or
    NOT_REACHED); for synthetic control each account's `unit` (its value of the column the step filters on)."""
    first = event.rollouts[0]
    panel = read_change_panel(con, list(first.treated) or None)
    if design == "staggered":
        reached_from: dict[str, pd.Timestamp] = {}
        cohort: dict[str, str] = {}
        for rollout in event.rollouts:  # earliest first: an account reached by two steps counts from the first
            reached = _reached(con, rollout)
            new = [account for account in reached.account_id[reached.is_reached] if account not in reached_from]
            reached_from.update(dict.fromkeys(new, pd.Timestamp(rollout.start)))
            cohort.update(dict.fromkeys(new, " and ".join(rollout.treated)))
        panel["treated_from"] = pd.to_datetime(panel.account_id.map(reached_from))
        panel["cohort"] = panel.account_id.map(cohort).fillna(NOT_REACHED)
        panel["is_treated"] = panel.treated_from.notna()
    if design == "synthetic":
        filters = parse_filters(list(first.treated), filterable_columns(con))
        if len(filters) != 1 or filters[0].operator != "=":
            raise ChangeEffectError("synthetic control compares one group of a column with the column's other "
                                    f"groups: name the reached group as COLUMN=VALUE alone, not {' and '.join(first.treated)!r}")
        units = _reached(con, first, filters[0].column.sql).set_index("account_id").unit
        panel["unit"] = panel.account_id.map(units).fillna("(none)")
    return panel


def fit_design(design: str, event: ChangeEvent, panel: pd.DataFrame):
    """The design's estimator, fitted on the panel."""
    if design == "staggered":
        return StaggeredChangeEffect().fit(panel)
    estimator = {"did": ChangeEffect, "its": InterruptedTimeSeries, "synthetic": SyntheticControl}[design]
    return estimator(event.start).fit(panel)


def effect_verdict(design: str, ratio: dict) -> str:
    """What the change did to churn, in one sentence with its interval and the condition it holds under."""
    interval = f"hazard ratio {ratio['estimate']:.2f}, 95% interval {ratio['ci_lower']:.2f} to {ratio['ci_upper']:.2f}"
    if ratio["ci_upper"] < 1:
        said = f"The accounts it reached churned less after it {COMPARED_WITH[design]} ({interval})"
    elif ratio["ci_lower"] > 1:
        said = f"The accounts it reached churned more after it {COMPARED_WITH[design]} ({interval})"
    else:
        said = f"No clear change in churn: the data fit anything from a drop to a rise ({interval})"
    return f"{said}, {RESTS_ON[design]}."


def pre_trend_verdict(design: str, p_value: float | None) -> str:
    """The test of the months before the change, in words."""
    if p_value is None:
        return "Too few months before the change to test what the estimate rests on."
    before = {"its": "churn before the change did not follow its fitted trend and season (placebo dates found a "
                     "change where there was none)",
              "synthetic": "the synthetic mix did not track the reached group before the change"}.get(
        design, "the groups' churn was already drifting apart before the change")
    if p_value < PRE_TREND_ALPHA:
        return (f"Warning: {before} (p = {p_value:.2f}): the difference after it cannot be credited to the change "
                "alone.")
    return (f"No sign that the comparison failed before the change (p = {p_value:.2f}); that is consistent with, "
            "not proof of, what the estimate rests on.")


def evaluate(con: duckdb.DuckDBPyConnection, event: ChangeEvent, design: str = "auto",
             account_ids=None, with_expected: bool = True) -> dict:
    """The evaluation of a recorded change as the command's JSON (and the page's content): what moved, what it did
    to churn, what that was worth, how sure, what it rests on, and the drivers model's expectation.
    `account_ids`: only these accounts (a person's scope, a filter); None: every account."""
    chosen = choose_design(event, design)
    panel = read_event_panel(con, event, chosen)
    if account_ids is not None:
        panel = panel[panel.account_id.isin(set(account_ids))].reset_index(drop=True)
        if not panel.is_treated.any():
            raise ChangeEffectError(f"none of the selected accounts (your filters, or the accounts you may see) was "
                                    f"reached by {event.name!r}: widen the selection to include them")
    fitted = fit_design(chosen, event, panel)
    ratio = {k: fitted.hazard_ratio_[k] for k in ("estimate", "ci_lower", "ci_upper", "p_value")}
    service = service_change(fitted.rows_, panel)
    kept = accounts_kept(fitted.rows_, fitted.hazard_ratio_)
    reached_ids = panel.account_id[panel.is_treated].unique()
    kept.update(kept_a_year(con, fitted.hazard_ratio_, reached_ids))
    expected = expected_from_drivers(con, service, kept, reached_ids) if with_expected else None
    verdict = effect_verdict(chosen, ratio)
    first_moved = next((row["factor"] for row in service.to_dict("records") if row["moved"]),
                       service.factor.iloc[0] if not service.empty else None)
    by_month = service_by_month(fitted.rows_, panel, first_moved) if first_moved else pd.DataFrame()
    counts = dict(fitted.counts_)
    notes = [verdict, *getattr(fitted, "notes_", []), pre_trend_verdict(chosen, fitted.pre_trend_p_value_),
             "Accounts kept since the change: the reached accounts followed month by month as they would have churned "
             "without it (each month's hazard divided by the ratio), less the churns they had; ARR at 12 × their "
             "average MRR since the change. A year from now: each reached account still a customer, "
             "at its chance of churning in the next year from the drivers model (its measures carry the change), "
             "against that chance with its hazard divided by the ratio; ARR at 12 × its MRR."]
    return {
        "name": event.name, "date": f"{event.start:%Y-%m-%d}", "design": DESIGNS[chosen], "design_key": chosen,
        "treated": [" and ".join(r.treated) for r in event.rollouts if r.treated],
        "rollouts": [{"date": f"{r.start:%Y-%m-%d}", "treated": list(r.treated)} for r in event.rollouts],
        "accounts": {"treated_accounts": int(panel.account_id[panel.is_treated].nunique()),
                     "comparison_accounts": int(panel.account_id[~panel.is_treated].nunique())},
        "service_change": service.to_dict("records"),
        "service_by_month": {"factor": first_moved, "rows": by_month.assign(
            month_start=by_month.month_start.dt.strftime("%Y-%m-%d")).to_dict("records") if not by_month.empty
            else []},
        "hazard_ratio": ratio,
        "accounts_kept": {"since_change": kept["accounts_since"], "per_year": kept["accounts_per_year"]},
        "arr_kept": {"since_change": kept["arr_since"], "per_year": kept["arr_per_year"]},
        "verdict": verdict,
        "pre_trend": {"p_value": fitted.pre_trend_p_value_,
                      "verdict": pre_trend_verdict(chosen, fitted.pre_trend_p_value_)},
        "event_study": fitted.event_study_.to_dict("records"),
        "placebos": list(fitted.placebos_),
        "expected_from_drivers": expected,
        "counts": {key: value for key, value in counts.items() if _plain(value)},
        "notes": notes,
    }


def _plain(value) -> bool:
    """Whether a count is a JSON value as it is (numbers, text, lists and dicts of them)."""
    return isinstance(value, (int, float, str, bool, list, dict, type(None), np.integer, np.floating, date))
