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
from .drivers import ServiceDrivers
from .risk import AccountRisk
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


def month_index(values) -> np.ndarray:
    """Dates as the change designs count months: year × 12 + month."""
    stamps = pd.DatetimeIndex(pd.to_datetime(values))
    return np.asarray(stamps.year * 12 + stamps.month)


def month_start(month: int) -> pd.Timestamp:
    """The first day of a month counted as month_index counts it."""
    year, index = divmod(int(month) - 1, 12)
    return pd.Timestamp(year=year, month=index + 1, day=1)


def ratio_with_interval(log_estimate: float, log_se: float, level: float = 0.95) -> dict:
    """A hazard ratio from its log and the log's standard error: the estimate, its normal interval at `level`, and
    the two-sided p-value of no change (None without a spread)."""
    z = stats.norm.ppf(0.5 + level / 2)
    return {"estimate": float(np.exp(log_estimate)), "ci_lower": float(np.exp(log_estimate - z * log_se)),
            "ci_upper": float(np.exp(log_estimate + z * log_se)), "log_estimate": float(log_estimate),
            "log_se": float(log_se),
            "p_value": float(2 * stats.norm.sf(abs(log_estimate) / log_se)) if log_se > 0 else None}


def first_month_after(change_date: date) -> int:
    """The month index (year × 12 + month) of the first whole month after the change."""
    change = pd.Timestamp(change_date)
    return change.year * 12 + change.month + (0 if change.day == 1 else 1)


def account_months(panel: pd.DataFrame, change_date: date, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """The panel's usable rows as the change designs use them: position in the panel, account code, month index,
    months from the change, tenure band, treated, churned, MRR (NaN when the panel has none), and the `extra`
    columns as they are. The month the change falls in is left out when it does not start on the 1st, as the
    difference-in-differences does: it is partly before, partly after."""
    required = {"account_id", "month_start", "tenure_days", "churned", "is_treated", *extra}
    missing = required - set(panel.columns)
    if missing:
        raise ChangeEffectError(f"the panel lacks the column(s) {', '.join(sorted(missing))}")
    rows = pd.DataFrame({
        "row": np.arange(len(panel)),
        "account": pd.factorize(panel.account_id)[0],
        "month": month_index(panel.month_start),
        "tenure_band": np.minimum(panel.tenure_days.to_numpy() // TENURE_BAND_DAYS, TENURE_BANDS),
        "churned": panel.churned.to_numpy(dtype=float),
        "treated": panel.is_treated.astype(bool).to_numpy(),
        "mrr": panel.mrr.to_numpy(dtype=float) if "mrr" in panel.columns else np.nan,
        **{column: panel[column].to_numpy() for column in extra},
    })
    first_after = first_month_after(change_date)
    mid_month = pd.Timestamp(change_date).day != 1
    if mid_month:
        rows = rows[rows.month != first_after - 1]
    # 0 is the first whole month after the change, −1 the last whole month before it, the partial month between
    # them left out above
    rows["event_month"] = rows.month - first_after + np.where((rows.month < first_after) & mid_month, 1, 0)
    return rows.reset_index(drop=True)


@dataclass
class ChangeEffect:
    """Difference-in-differences of a change that reached some accounts from `change_date`.

    fit(panel) takes read_change_panel's frame. Learned: hazard_ratio_ {estimate, ci_lower, ci_upper, p_value},
    event_study_ (one row per month relative to the change), pre_trend_p_value_, placebos_, counts_, rows_ (the
    account-months it used: row, account, month, event_month, treated, churned, mrr) and notes_; the other designs
    (change_staggered, change_its, change_synthetic) learn the same, and change_evaluation works from them.
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
    rows_: pd.DataFrame = field(default_factory=pd.DataFrame, init=False)
    notes_: list[str] = field(default_factory=list, init=False)

    def fit(self, panel: pd.DataFrame) -> ChangeEffect:
        rows = self._design(panel)
        self.hazard_ratio_ = self._did(rows)
        self.event_study_, self.pre_trend_p_value_ = self._event_study(rows)
        self.placebos_ = self._placebos(rows)
        self.rows_ = rows
        self.notes_ = ["Difference-in-differences of the monthly churn hazard: the reached accounts against the "
                       "others, tenure bands and calendar months held fixed, errors clustered by account. It credits "
                       "the change with the difference only if both groups' churn would have moved in parallel "
                       "without it.",
                       "The interval counts each account's months as one draw; it does not count a shock that hit the "
                       "whole reached group at once, besides the change. With one reached group no design can tell "
                       "the two apart: the placebo dates show how large such swings have been before."]
        if self.change_date.day != 1:
            self.notes_.append(f"The month of {self.change_date:%d %B %Y} is left out: it is partly before the "
                               "change.")
        return self

    # --- the design -------------------------------------------------------------------------------------------

    def _design(self, panel: pd.DataFrame) -> pd.DataFrame:
        rows = account_months(panel, self.change_date)
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
        return rows

    def _fit(self, rows: pd.DataFrame, formula: str):
        with warnings.catch_warnings():  # pyfixest reports fixed effects it drops (all zero); they carry no churn
            warnings.simplefilter("ignore")
            return pf.fepois(formula, data=rows, vcov={"CRV1": "account"})

    def _ratio(self, fit, term: str) -> dict:
        names = list(fit.coef().index)
        if term not in names:  # a term the regression dropped: all its rows churn-free (separation) or collinear
            raise ChangeEffectError(f"{term} cannot be estimated: no churn among its account-months, or it moves "
                                    "with the calendar exactly")
        se = float(np.sqrt(np.asarray(fit._vcov)[names.index(term)][names.index(term)]))
        return ratio_with_interval(float(fit.coef()[term]), se, self.level)

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


def _measure_values(panel: pd.DataFrame, rows: pd.DataFrame, column: str, relative: bool) -> np.ndarray:
    values = panel[column].to_numpy(dtype=float)[rows.row.to_numpy()]
    return np.log(np.clip(values, 1.0 / 60.0, None)) if relative else values


def service_change(rows: pd.DataFrame, panel: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Did the service measures move? For each factor the panel carries: the reached and the other accounts' average
    before and after the change, and the difference-in-differences of the measure (calendar month and group fixed
    effects, clustered by account); with no comparison group (a change that reached everyone) the plain difference
    of after and before. A time on the log scale (a relative change: −0.5 is half the time), a rate or a score as it
    is. `rows` are a design's rows_ (row, account, month, event_month, treated).

    The measures are trailing windows known before each month, so the months after the change in which they carry
    only part of it (RAMP_MONTHS) are left out when later months exist: the change is measured in full, as the
    accounts carry it today. Nine measures are tested at once, and one moves at the 5% level by chance in a third of
    changes that did nothing, so a measure counts as `moved` only below 5% divided by the number tested
    (Bonferroni)."""
    rows = rows[rows.event_month.notna() | ~rows.treated]
    if rows.event_month.isna().any():  # never reached, in a rollout in steps: their months count from the first step
        first_step = (rows.month - rows.event_month)[rows.treated].min()
        rows = rows.assign(event_month=rows.event_month.fillna(rows.month - first_step))
    if (rows.event_month >= RAMP_MONTHS).any():
        rows = rows[~(rows.event_month.between(0, RAMP_MONTHS - 1))]
    compared = bool((~rows.treated).any())
    z = stats.norm.ppf(0.5 + level / 2)
    out: list[dict[str, object]] = []
    p_values: list[float] = []
    for name in CHANGEABLE:
        factor = FACTORS_BY_NAME[name]
        if factor.column not in panel.columns:
            continue
        relative = factor.change == "duration"
        data = rows.assign(value=_measure_values(panel, rows, factor.column, relative),
                           reached_after=(rows.treated & (rows.event_month >= 0)).astype(float),
                           after=(rows.event_month >= 0), group=rows.treated.astype(int)).dropna(subset=["value"])
        sides = data.groupby([data.treated, data.after]).value
        if sides.ngroups < (4 if compared else 2) or sides.count().min() < 10:
            continue
        formula = "value ~ reached_after | month + group" if compared else "value ~ reached_after"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = pf.feols(formula, data=data, vcov={"CRV1": "account"})
        names = list(fit.coef().index)
        estimate = float(fit.coef()["reached_after"])
        se = float(np.sqrt(np.asarray(fit._vcov)[names.index("reached_after")][names.index("reached_after")]))
        means = sides.mean()
        shown = (lambda v: float(np.exp(v))) if relative else float
        p_values.append(float(2 * stats.norm.sf(abs(estimate) / se)) if se > 0 else 1.0)
        row: dict[str, object] = {
            "factor": name, "label": factor.label, "scale": "relative" if relative else "difference",
            "p_value": p_values[-1],
            "reached_before": shown(means[(True, False)]), "reached_after": shown(means[(True, True)]),
            "others_before": shown(means[(False, False)]) if compared else None,
            "others_after": shown(means[(False, True)]) if compared else None}
        if relative:
            row.update(estimate=float(np.expm1(estimate)), ci_lower=float(np.expm1(estimate - z * se)),
                       ci_upper=float(np.expm1(estimate + z * se)))
        else:
            row.update(estimate=estimate, ci_lower=estimate - z * se, ci_upper=estimate + z * se)
        out.append(row)
    for row, p_value in zip(out, p_values):
        row["moved"] = p_value < (1 - level) / len(out)
    return pd.DataFrame(out)


def service_by_month(rows: pd.DataFrame, panel: pd.DataFrame, factor: str, level: float = 0.95) -> pd.DataFrame:
    """One measure month by month for the reached accounts and the others: its average (a time's geometric mean)
    with a normal interval over the accounts that month (month_start, group, value, ci_lower, ci_upper, accounts)."""
    spec = FACTORS_BY_NAME[factor]
    relative = spec.change == "duration"
    data = rows.assign(value=_measure_values(panel, rows, spec.column, relative),
                       group=np.where(rows.treated, "reached", "others")).dropna(subset=["value"])
    summary = data.groupby(["month", "group"]).value.agg(["mean", "std", "count"]).reset_index()
    summary = summary[summary["count"] >= 5]
    half = stats.norm.ppf(0.5 + level / 2) * summary["std"].fillna(0) / np.sqrt(summary["count"])
    back = np.exp if relative else (lambda v: v)
    return pd.DataFrame({
        "month_start": [month_start(month) for month in summary.month],
        "group": summary.group, "value": back(summary["mean"]), "ci_lower": back(summary["mean"] - half),
        "ci_upper": back(summary["mean"] + half), "accounts": summary["count"]}).reset_index(drop=True)


def accounts_kept(rows: pd.DataFrame, ratio: dict) -> dict:
    """Accounts and ARR the change kept among the accounts it reached since it, with the hazard ratio's interval:
    the churns they would have had without it minus the churns they had. Without it each month's accounts at risk
    would have churned at the month's observed hazard divided by the ratio, and those who churned would have left the
    months after; following the reached accounts month by month that way (each entering at its first month after the
    change) counts the accounts still customers because of the change. Scaling the churns observed by (1 / ratio − 1)
    instead would count an account the change kept, and that churned later anyway, as kept. ARR: each kept account at
    the average ARR (12 × MRR) of the reached accounts' months after the change."""
    after = rows[rows.treated & (rows.event_month >= 0)]
    months = np.sort(after.event_month.unique())
    at_risk = after.groupby("event_month").size().reindex(months).to_numpy(float)
    churns = after.groupby("event_month").churned.sum().reindex(months).to_numpy(float)
    entering = after.groupby("account").event_month.min().value_counts().reindex(months, fill_value=0).to_numpy(float)
    hazard = np.divide(churns, at_risk, out=np.zeros_like(churns), where=at_risk > 0)
    arr = float(12 * np.nanmean(after.mrr)) if len(after) and np.isfinite(after.mrr).any() else float("nan")

    def kept(hazard_ratio: float) -> float:
        still, churns_without = 0.0, 0.0
        for month_entering, month_hazard in zip(entering, hazard):
            still += month_entering
            churned = still * min(month_hazard / hazard_ratio, 1.0)
            churns_without += churned
            still -= churned
        return churns_without - float(churns.sum())

    since = {key: kept(ratio[source]) for key, source in
             (("estimate", "estimate"), ("ci_lower", "ci_upper"), ("ci_upper", "ci_lower"))}
    return {"accounts_since": since, "arr_since": {k: v * arr for k, v in since.items()},
            "churns_after": float(churns.sum()), "account_months_after": float(len(after)), "arr_per_account": arr}


def kept_a_year(con: duckdb.DuckDBPyConnection, ratio: dict, account_ids, horizon_days: int = 365) -> dict:
    """The accounts and ARR the change keeps over the next `horizon_days` among `account_ids` (the reached accounts),
    by the product's standardisation: each active account's chance of churning over the horizon from the stored
    drivers model at its current measures (which carry the change), P, against the chance without the change, its
    hazard divided by the ratio: 1 − (1 − P)^(1 / ratio). Summed over the accounts (ARR: weighted by 12 × MRR), at
    the ratio's estimate and its interval's ends."""
    risk = AccountRisk(horizon_days=horizon_days).fit(con, drivers=ServiceDrivers.from_database(con))
    accounts = risk.accounts_[risk.accounts_.account_id.isin(set(account_ids))]
    chance, arr = accounts.churn_probability.to_numpy(float), accounts.arr.to_numpy(float)

    def kept(hazard_ratio: float) -> np.ndarray:
        return -np.expm1(np.log1p(-np.minimum(chance, 1 - 1e-12)) / hazard_ratio) - chance

    by_end = {key: kept(ratio[source]) for key, source in
              (("estimate", "estimate"), ("ci_lower", "ci_upper"), ("ci_upper", "ci_lower"))}
    return {"accounts_per_year": {key: float(values.sum()) for key, values in by_end.items()},
            "arr_per_year": {key: float(values @ arr) for key, values in by_end.items()},
            "reached_active_now": int(len(accounts))}


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


def expected_from_drivers(con: duckdb.DuckDBPyConnection, service: pd.DataFrame, kept: dict, account_ids,
                          horizon_days: int = 365) -> dict:
    """What the drivers model expected the measured service change to do, beside what the change did.

    The reached accounts' measures today already carry the change, so the model's expectation is the what-if that
    takes it back (`undoing`), among those accounts: the accounts it would lose in a year are the accounts the
    change keeps a year. Only measures whose own difference-in-differences moved count (`moved`: clear of zero after
    allowing for the number of measures tested). The
    two are consistent when their difference's interval holds zero (the two estimates' errors taken as independent).
    """
    moved = [row for row in service.to_dict("records")
             if row.get("moved", row["ci_lower"] > 0 or row["ci_upper"] < 0)] if not service.empty else []
    observed = kept["accounts_per_year"]
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
