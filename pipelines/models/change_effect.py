"""Did a support change keep customers? The change's effect on the monthly churn hazard, measured after the fact.

The design here is the one for a change that reached some accounts (a region, a plan, a team) from one date:
difference-in-differences on the account-month panel. Each month an account is at risk is a row; whether it churned
that month is modelled as Poisson with a log link (a monthly hazard), with

- a fixed effect for each band of tenure, so an ageing base is not mistaken for an effect (tenure is the time scale);
- a fixed effect for each calendar month, which takes out the season and anything else that moved every account;
- a fixed effect for the group the change reached;
- and the term of interest: reached × after the change. exp(its coefficient) is the hazard ratio the change brought
  to the accounts it reached, relative to the trend of those it did not.

Intervals are clustered by account (an account's months are not independent draws). The month the change falls in
is left out when the change does not start on the 1st: it is partly before, partly after.

What the estimate rests on (said with it): the two groups' hazards would have moved in parallel without the change,
given tenure and the calendar. The event study tests what can be tested of that: a hazard ratio for each month
before and after the change, relative to the month before it, whose months before should be 1 (a joint Wald test of
them, `pre_trend_p_value_`). Placebo dates before the change, fitted on the months before it only, should find
nothing. Neither proves the assumption; a failing one refutes it.

pyfixest fits the Poisson regressions with fixed effects and clustered errors (it follows R's fixest).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pyfixest as pf
from scipy import stats

from ..errors import RetentionError
from ..filters import filter_predicate, filterable_columns, parse_filters
from ..settings import WINDOW_DAYS
from ..sqlrun import TrustedSql, execute_template, quote_ident
from .factor_effects import stored_structure
from .factors import CHANGEABLE, FACTORS_BY_NAME
from .whatif import Change, WhatIf

# Tenure bands of three months up to three years, then one band: enough to follow the hazard's shape over tenure
# without a fixed effect per month of tenure eating the data.
TENURE_BAND_DAYS = 91
TENURE_BANDS = 12
# The event study's window: months before and after the change each get their own ratio; those further out are
# pooled with the window's end.
EVENT_LEADS, EVENT_LAGS = 6, 12
# A pre-trend test with a p-value under this says the groups were already drifting apart before the change.
PRE_TREND_ALPHA = 0.10
PLACEBO_OFFSETS_MONTHS = (6, 12)
# A month of the event study whose log ratio has a standard error beyond this carries no information (a month of no
# churn among the reached accounts: the ratio runs off to 0): it is left out.
MAX_LOG_SE = 5.0
# The service measures are trailing windows known before each month: a change shows in them in full only once a whole
# window has passed since it, and the months before that carry part of it.
RAMP_MONTHS = -(-WINDOW_DAYS // 30)


class ChangeEffectError(RetentionError, ValueError):
    """The change cannot be evaluated on these data; the message says why and what to change."""


def read_change_panel(con: duckdb.DuckDBPyConnection, treated: list[str] | None) -> pd.DataFrame:
    """Every account-month at risk with its tenure, whether it churned and whether the change reached the account
    (`treated`: filter texts over the build's segments; None: every account)."""
    columns = filterable_columns(con)
    predicate, params = filter_predicate(parse_filters(treated, columns)) if treated else (filter_predicate([]))
    measures = TrustedSql(", ".join(f"p.{quote_ident(FACTORS_BY_NAME[f].column)}" for f in CHANGEABLE))
    cursor = con.cursor()
    try:
        return execute_template(cursor, "change_panel", params, treated=predicate, measures=measures).df()
    finally:
        cursor.close()


def _month_index(values) -> np.ndarray:
    stamps = pd.DatetimeIndex(pd.to_datetime(values))
    return np.asarray(stamps.year * 12 + stamps.month)


@dataclass
class ChangeEffect:
    """Difference-in-differences of a change that reached some accounts from `change_date`.

    fit(panel) takes read_change_panel's frame. Learned: hazard_ratio_ {estimate, ci_lower, ci_upper, p_value},
    event_study_ (one row per month relative to the change), pre_trend_p_value_, placebos_, counts_.
    """

    change_date: date
    leads: int = EVENT_LEADS
    lags: int = EVENT_LAGS
    level: float = 0.95
    hazard_ratio_: dict = field(default_factory=dict, init=False)
    event_study_: pd.DataFrame = field(default_factory=pd.DataFrame, init=False)
    pre_trend_p_value_: float | None = field(default=None, init=False)
    placebos_: list[dict] = field(default_factory=list, init=False)
    counts_: dict = field(default_factory=dict, init=False)
    service_change_: pd.DataFrame = field(default_factory=pd.DataFrame, init=False)
    kept_: dict = field(default_factory=dict, init=False)

    def fit(self, panel: pd.DataFrame) -> ChangeEffect:
        rows = self._design(panel)
        self.hazard_ratio_ = self._did(rows)
        self.event_study_, self.pre_trend_p_value_ = self._event_study(rows)
        self.placebos_ = self._placebos(rows)
        self.service_change_ = self._first_stage(rows, panel)
        self.kept_ = self._kept(rows)
        return self

    # --- the design -------------------------------------------------------------------------------------------

    def _design(self, panel: pd.DataFrame) -> pd.DataFrame:
        missing = {"account_id", "month_start", "tenure_days", "churned", "is_treated"} - set(panel.columns)
        if missing:
            raise ChangeEffectError(f"the panel lacks {', '.join(sorted(missing))}")
        rows = pd.DataFrame({
            "row": np.arange(len(panel)),
            "account": pd.factorize(panel.account_id)[0],
            "month": _month_index(panel.month_start),
            "tenure_band": np.minimum(panel.tenure_days.to_numpy() // TENURE_BAND_DAYS, TENURE_BANDS),
            "churned": panel.churned.to_numpy(dtype=float),
            "treated": panel.is_treated.astype(bool).to_numpy(),
            "mrr": panel.mrr.to_numpy(dtype=float) if "mrr" in panel.columns else np.nan,
        })
        change = pd.Timestamp(self.change_date)
        first_after = change.year * 12 + change.month + (0 if change.day == 1 else 1)
        if change.day != 1:  # the month the change falls in is partly before it: neither side's
            rows = rows[rows.month != first_after - 1]
        # months counted from the change: 0 the first whole month after it, −1 the last whole month before it (the
        # event study's reference), the partial month between them left out above
        rows["event_month"] = rows.month - first_after + np.where(
            (rows.month < first_after) & (change.day != 1), 1, 0)
        treated_accounts = rows.loc[rows.treated, "account"].nunique()
        control_accounts = rows.loc[~rows.treated, "account"].nunique()
        before, after = (rows.event_month < 0), (rows.event_month >= 0)
        self.counts_ = {
            "treated_accounts": int(treated_accounts), "comparison_accounts": int(control_accounts),
            "churns_treated_before": int(rows.churned[rows.treated & before].sum()),
            "churns_treated_after": int(rows.churned[rows.treated & after].sum()),
            "churns_comparison_before": int(rows.churned[~rows.treated & before].sum()),
            "churns_comparison_after": int(rows.churned[~rows.treated & after].sum()),
            "months_before": int(rows.event_month[before].nunique()),
            "months_after": int(rows.event_month[after].nunique()),
        }
        if treated_accounts == 0 or control_accounts == 0:
            raise ChangeEffectError("the change must reach some accounts and not others for a difference-in-"
                                    "differences; a change that reached everyone needs an interrupted time series")
        if self.counts_["months_before"] == 0 or self.counts_["months_after"] == 0:
            raise ChangeEffectError(f"the data have no whole month on both sides of {self.change_date:%Y-%m-%d}")
        if min(self.counts_[k] for k in self.counts_ if k.startswith("churns_")) == 0:
            raise ChangeEffectError("each group needs churned accounts both before and after the change")
        return rows.reset_index(drop=True)

    def _fit(self, rows: pd.DataFrame, formula: str):
        with warnings.catch_warnings():  # pyfixest reports fixed effects it drops (all zero); they carry no churn
            warnings.simplefilter("ignore")
            return pf.fepois(formula, data=rows, vcov={"CRV1": "account"})

    def _ratio(self, fit, term: str) -> dict:
        names = list(fit.coef().index)
        if term not in names:  # a term the regression dropped: all its rows churn-free (separation) or collinear
            raise ChangeEffectError(f"{term} cannot be estimated: no churn among its account-months, or it moves "
                                    "with the calendar exactly")
        estimate = float(fit.coef()[term])
        se = float(np.sqrt(np.asarray(fit._vcov)[names.index(term)][names.index(term)]))
        z = stats.norm.ppf(0.5 + self.level / 2)
        return {"estimate": float(np.exp(estimate)), "ci_lower": float(np.exp(estimate - z * se)),
                "ci_upper": float(np.exp(estimate + z * se)), "log_estimate": estimate, "log_se": se,
                "p_value": float(2 * stats.norm.sf(abs(estimate) / se)) if se > 0 else None}

    def _did(self, rows: pd.DataFrame, from_month: int = 0) -> dict:
        """The hazard ratio of the reached accounts from event month `from_month` on (0: the change; a placebo's
        is earlier) against before it and against the others."""
        rows = rows.assign(reached_after=(rows.treated & (rows.event_month >= from_month)).astype(float),
                           group=rows.treated.astype(int))
        return self._ratio(self._fit(rows, "churned ~ reached_after | tenure_band + month + group"), "reached_after")

    def _event_study(self, rows: pd.DataFrame) -> tuple[pd.DataFrame, float | None]:
        relative = np.clip(rows.event_month.to_numpy(), -self.leads, self.lags)
        terms, names = {}, []
        for k in range(-self.leads, self.lags + 1):
            if k == -1:  # the reference: the month before the change
                continue
            name = f"lead_{-k}" if k < 0 else f"lag_{k}"
            terms[name] = ((relative == k) & rows.treated.to_numpy()).astype(float)
            names.append((k, name))
        if not ((relative == -1) & rows.treated.to_numpy()).any():  # no reference month: nothing to compare with
            return pd.DataFrame(), None
        design = rows.assign(group=rows.treated.astype(int), **terms)
        # A month whose reached accounts had no churn at all has a ratio of 0 and no interval: its term would run off
        # to minus infinity and take the whole fit's errors with it. Its reached rows say nothing about the other
        # months, so they are left out of this fit, and the month out of the table, rather than shown as a number.
        empty = [n for _, n in names if design[n].any() and design.churned[design[n] > 0].sum() == 0]
        for name in empty:
            design = design[design[name] == 0]
        present = [(k, n) for k, n in names if design[n].any()]
        fit = self._fit(design, "churned ~ " + " + ".join(n for _, n in present) + " | tenure_band + month + group")
        fitted_terms = [str(term) for term in fit.coef().index]
        spread = dict(zip(fitted_terms, np.sqrt(np.diag(np.asarray(fit._vcov)))))
        present = [(k, n) for k, n in present if np.isfinite(spread.get(n, np.inf)) and spread[n] < MAX_LOG_SE]
        table = pd.DataFrame([{"months_from_change": k, **{key: value for key, value in self._ratio(fit, n).items()
                                                          if key in ("estimate", "ci_lower", "ci_upper")}}
                              for k, n in present])
        leads = [n for k, n in present if k < -1]
        if not leads:
            return table, None
        index = [fitted_terms.index(n) for n in leads]
        b = fit.coef().to_numpy()[index]
        v = np.asarray(fit._vcov)[np.ix_(index, index)]
        wald = float(b @ np.linalg.solve(v, b))
        return table, float(stats.chi2.sf(wald, len(leads)))

    def _placebos(self, rows: pd.DataFrame) -> list[dict]:
        """The same difference-in-differences at dates before the change, on the months before it only: a change
        that did nothing then should find a ratio near 1."""
        before = rows[rows.event_month < 0]
        out = []
        for offset in PLACEBO_OFFSETS_MONTHS:
            sides = before.groupby([before.treated, before.treated & (before.event_month >= -offset)]).churned.sum()
            if (before.event_month < -offset).sum() == 0 or len(sides) < 3 or (sides == 0).any():
                continue
            ratio = self._did(before, -offset)
            month = pd.Timestamp(self.change_date) - pd.DateOffset(months=offset)
            out.append({"date": f"{month:%Y-%m}-01", "months_before_change": offset,
                        **{k: ratio[k] for k in ("estimate", "ci_lower", "ci_upper", "p_value")}})
        return out

    def _first_stage(self, rows: pd.DataFrame, panel: pd.DataFrame) -> pd.DataFrame:
        """Did the service measures move? For each factor the panel carries: the reached and the other accounts'
        average before and after the change, and the difference-in-differences of the measure (month and group fixed
        effects, clustered by account); a time on the log scale (a relative change), a rate or a score as it is.
        The measures are trailing windows known before each month, so the months after the change in which they
        carry only part of it (RAMP_MONTHS) are left out when later months exist: the change is measured in full,
        as the accounts carry it today."""
        out: list[dict[str, object]] = []
        p_values: list[float] = []
        if (rows.event_month >= RAMP_MONTHS).any():
            rows = rows[(rows.event_month < 0) | (rows.event_month >= RAMP_MONTHS)]
        for name in CHANGEABLE:
            factor = FACTORS_BY_NAME[name]
            if factor.column not in panel.columns:
                continue
            values = panel[factor.column].to_numpy(dtype=float)[rows.row.to_numpy()]
            relative = factor.change == "duration"
            if relative:
                values = np.log(np.clip(values, 1.0 / 60.0, None))
            data = rows.assign(value=values, reached_after=(rows.treated & (rows.event_month >= 0)).astype(float),
                               group=rows.treated.astype(int)).dropna(subset=["value"])
            sides = data.groupby([data.treated, data.event_month >= 0]).value
            if sides.ngroups < 4 or sides.count().min() < 10:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = pf.feols("value ~ reached_after | month + group", data=data, vcov={"CRV1": "account"})
            estimate = float(fit.coef()["reached_after"])
            se = float(np.sqrt(np.asarray(fit._vcov)[0][0]))
            z = stats.norm.ppf(0.5 + self.level / 2)
            means = sides.mean()
            shown = (lambda v: float(np.exp(v))) if relative else float
            p_values.append(float(2 * stats.norm.sf(abs(estimate) / se)) if se > 0 else 1.0)
            row: dict[str, object] = {"factor": name, "label": factor.label,
                   "scale": "relative" if relative else "difference", "p_value": p_values[-1],
                   "reached_before": shown(means[(True, False)]), "reached_after": shown(means[(True, True)]),
                   "others_before": shown(means[(False, False)]), "others_after": shown(means[(False, True)])}
            if relative:  # the change as a share: −0.5 is half the time
                row.update(estimate=float(np.expm1(estimate)), ci_lower=float(np.expm1(estimate - z * se)),
                           ci_upper=float(np.expm1(estimate + z * se)))
            else:
                row.update(estimate=estimate, ci_lower=estimate - z * se, ci_upper=estimate + z * se)
            out.append(row)
        # nine measures tested at once: one moves at the 5% level by chance in a third of changes that did nothing,
        # so a measure counts as moved only below 5% divided by the number tested (Bonferroni)
        for row, p_value in zip(out, p_values):
            row["moved"] = p_value < (1 - self.level) / len(out)
        return pd.DataFrame(out)

    def _kept(self, rows: pd.DataFrame) -> dict:
        """Accounts and ARR the change kept among the accounts it reached, since it and per year from now on, with the
        hazard ratio's interval: their churns after the change were `1 / ratio` times fewer than they would have
        been without it, so it kept churns × (1 / ratio − 1). ARR: each kept account at the average ARR (12 × MRR)
        of the reached accounts' months after the change. The year ahead: the reached accounts' churn rate since the
        change, over a year, for those still customers."""
        after = rows[rows.treated & (rows.event_month >= 0)]
        churns = float(after.churned.sum())
        months = float(len(after))
        ratio = self.hazard_ratio_
        arr = float(12 * np.nanmean(after.mrr)) if months and np.isfinite(after.mrr).any() else float("nan")
        last_month = after.month.max() if months else None
        active_now = int(((after.month == last_month) & (after.churned == 0)).sum()) if months else 0
        yearly_churns = active_now * 12 * churns / months if months else 0.0

        def kept(count: float) -> dict:
            return {key: count * (1 / ratio[source] - 1) for key, source in
                    (("estimate", "estimate"), ("ci_lower", "ci_upper"), ("ci_upper", "ci_lower"))}

        since, per_year = kept(churns), kept(yearly_churns)
        return {"accounts_since": since, "arr_since": {k: v * arr for k, v in since.items()},
                "accounts_per_year": per_year, "arr_per_year": {k: v * arr for k, v in per_year.items()},
                "churns_after": churns, "account_months_after": months, "reached_active_now": active_now,
                "arr_per_account": arr}

    def to_json_dict(self, name: str, treated: list[str]) -> dict:
        """The evaluation as the command's JSON: what moved, what it was worth, how sure, and what it rests on."""
        ratio = {k: self.hazard_ratio_[k] for k in ("estimate", "ci_lower", "ci_upper", "p_value")}
        kept = self.kept_
        notes = [
            self.effect_verdict(),
            "Difference-in-differences of the monthly churn hazard: the reached accounts against the others, tenure "
            "bands and calendar months held fixed, errors clustered by account. It credits the change with the "
            "difference only if both groups' churn would have moved in parallel without it.",
            self.pre_trend_verdict(),
            "Accounts kept since the change: the reached accounts' churns after it times (1 / hazard ratio − 1); per "
            "year: the same at their churn rate since the change, for those still customers. ARR: 12 × their "
            "average MRR since the change.",
        ]
        if self.change_date.day != 1:
            notes.append(f"The month of {self.change_date:%d %B %Y} is left out: it is partly before the change.")
        return {
            "name": name, "date": f"{self.change_date:%Y-%m-%d}", "design": "difference-in-differences",
            "treated": list(treated), "accounts": {k: self.counts_[k] for k in ("treated_accounts",
                                                                               "comparison_accounts")},
            "service_change": self.service_change_.to_dict("records"),
            "hazard_ratio": ratio,
            "accounts_kept": {"since_change": kept["accounts_since"], "per_year": kept["accounts_per_year"]},
            "arr_kept": {"since_change": kept["arr_since"], "per_year": kept["arr_per_year"]},
            "verdict": self.effect_verdict(),
            "pre_trend": {"p_value": self.pre_trend_p_value_, "verdict": self.pre_trend_verdict()},
            "event_study": self.event_study_.to_dict("records"),
            "placebos": self.placebos_, "expected_from_drivers": None, "counts": self.counts_, "notes": notes,
        }

    def effect_verdict(self) -> str:
        """What the change did to churn, in one sentence with its interval and the condition it holds under."""
        ratio = self.hazard_ratio_
        interval = f"hazard ratio {ratio['estimate']:.2f}, 95% interval {ratio['ci_lower']:.2f} to {ratio['ci_upper']:.2f}"
        if ratio["ci_upper"] < 1:
            said = f"The accounts it reached churned less after it than the others' trend would predict ({interval})"
        elif ratio["ci_lower"] > 1:
            said = f"The accounts it reached churned more after it than the others' trend would predict ({interval})"
        else:
            said = f"No clear change in churn: the data fit anything from a drop to a rise ({interval})"
        return said + ", if both groups would otherwise have moved in parallel."

    def pre_trend_verdict(self) -> str:
        """The pre-trend test in words."""
        p = self.pre_trend_p_value_
        if p is None:
            return "No months before the change to test the groups' trends on."
        if p < PRE_TREND_ALPHA:
            return (f"The groups' churn was already drifting apart before the change (pre-trend test p = {p:.2f}): "
                    "the difference after it cannot be credited to the change alone.")
        return (f"No sign that the groups' churn was drifting apart before the change (pre-trend test p = {p:.2f}); "
                "that is consistent with, not proof of, parallel trends.")


def _measured(row: dict) -> str:
    """A measured change in its unit: −45% for a time, −2.7 pp for a rate, +0.12 points for a score."""
    if row["scale"] == "relative":
        return f"{row['estimate']:+.0%}".replace("-", "−")
    if FACTORS_BY_NAME[row["factor"]].change == "rate":
        return f"{row['estimate'] * 100:+.1f} pp".replace("-", "−")
    return f"{row['estimate']:+.2f} points".replace("-", "−")


def undoing(row: dict) -> Change:
    """The what-if change that takes a factor's measured change back: a time that fell by r is scaled by 1 / (1 + r),
    a rate or a score that moved by d is shifted by −d."""
    factor = FACTORS_BY_NAME[row["factor"]]
    if row["scale"] == "relative":
        scale = 1.0 / (1.0 + row["estimate"])
        return Change(factor.name, f"{(scale - 1) * 100:+.1f}%", "scale", scale)
    if factor.change == "rate":
        return Change(factor.name, f"{-row['estimate'] * 100:+.1f}pp", "shift", -row["estimate"], 0.0, 1.0)
    lower, upper = factor.change_range or (None, None)
    return Change(factor.name, f"{-row['estimate']:+.2f}", "shift", -row["estimate"], lower, upper)


def expected_from_drivers(con: duckdb.DuckDBPyConnection, effect: ChangeEffect, account_ids,
                          horizon_days: int = 365) -> dict:
    """What the drivers model expected the measured service change to do, beside what the change did.

    The reached accounts' measures today already carry the change, so the model's expectation is the what-if that
    takes it back (`undoing`), among those accounts: the accounts it would lose in a year are the accounts the
    change keeps a year. Only measures whose own difference-in-differences moved count (`moved`: clear of zero after
    allowing for the number of measures tested). The
    two are consistent when their difference's interval holds zero (the two estimates' errors taken as independent).
    """
    moved = [row for row in effect.service_change_.to_dict("records")
             if row.get("moved", row["ci_lower"] > 0 or row["ci_upper"] < 0)] if not effect.service_change_.empty else []
    observed = effect.kept_["accounts_per_year"]
    if not moved:
        return {"changes": [], "accounts_kept_per_year": None, "observed_per_year": observed, "consistent": None,
                "sentence": "No service measure moved measurably for the accounts the change reached, so the drivers "
                            "model expects no effect through them; an effect on churn came some other way, or not "
                            "at all."}
    # a measure that moved because another moved (SLA breaches with first response) is that one's consequence: the
    # what-if of the first lets it follow, so undoing both would count it twice
    structure = stored_structure(con)
    moved = [row for row in moved if not any(row["factor"] in structure.descendants(other["factor"])
                                             for other in moved if other is not row)]
    changes = [undoing(row) for row in moved]
    whatif = WhatIf(changes, horizon_days=horizon_days).fit(con, account_ids=account_ids)
    lost = whatif.result_["accounts_kept"]  # negative: taking the change back loses accounts
    expected = {"estimate": -lost["estimate"], "ci_lower": -lost["ci_upper"], "ci_upper": -lost["ci_lower"]}
    z = stats.norm.ppf(0.975)
    spread = np.hypot((observed["ci_upper"] - observed["ci_lower"]) / (2 * z),
                      (expected["ci_upper"] - expected["ci_lower"]) / (2 * z))
    gap = observed["estimate"] - expected["estimate"]
    consistent = bool(abs(gap) <= z * spread)
    measured = " and ".join(f"{FACTORS_BY_NAME[r['factor']].label} {_measured(r)}" for r in moved)
    sentence = (f"From the measured change ({measured}) the drivers model expected about {expected['estimate']:,.1f} "
                f"accounts kept a year ({expected['ci_lower']:,.1f} to {expected['ci_upper']:,.1f}); the change kept "
                f"about {observed['estimate']:,.1f} ({observed['ci_lower']:,.1f} to {observed['ci_upper']:,.1f}). ")
    if not consistent:
        sentence += (f"Not consistent: the model {'under' if gap > 0 else 'over'}stated what the change did; treat "
                     "the investment case's estimates for these factors with that in mind.")
    elif observed["ci_lower"] > 0 or observed["ci_upper"] < 0:
        sentence += "Consistent: on this change the model's estimates held up, which supports the investment case."
    else:
        sentence += ("Not in conflict, but what the change did is too uncertain to test the model with: the two "
                     "agree only because the change's interval is wide.")
    return {"changes": [{"factor": c.factor, "undo": c.text} for c in changes], "accounts_kept_per_year": expected,
            "observed_per_year": observed, "consistent": consistent, "sentence": sentence}
