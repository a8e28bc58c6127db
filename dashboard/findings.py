"""Plain-word findings from the models, each with its interval: pure functions, tested without Streamlit."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.charts import money, percent
from dashboard.labels import ALL_CHURN_WORDS, CAUSE_ADVERBS, cause_label, cause_short_label, cause_sort_key
from pipelines.models.factors import FACTORS_BY_NAME, SERVICE_PILLARS, TERMS_BY_NAME
from pipelines.models.forecast import CAUSE_MEASURE_PREFIX

# the overview leads with at most this many levers, those sure to keep some accounts, most ARR first
LEVERS_SHOWN = 3
HAZARD_RATIO_IN_WORDS = (
    "A hazard ratio compares the monthly chance of leaving between accounts that differ in one measure and are "
    "alike in what the model adjusts for: 1.25 means 25% more likely to leave in any month. The E-value is how "
    "strongly a hidden cause would have to be tied to both the measure and churn to explain the effect away.")

def effect_sentence(row) -> str:
    """One effect as a hazard ratio with its interval, and what it was adjusted for (never "as often")."""
    term = TERMS_BY_NAME.get(row.term)
    subject = term.phrase if term is not None and term.phrase else f"{row.term} ({row.unit})"
    subject = subject[0].upper() + subject[1:]
    verb = "had" if subject.startswith("Accounts") else "went with"
    core = (f"{subject} {verb} a churn hazard ratio of {row.hazard_ratio:.2f} "
            f"(95% CI {row.ci_lower:.2f}–{row.ci_upper:.2f})")
    adjusted_for = getattr(row, "adjusted_for", None)
    if adjusted_for:
        return core + f", adjusted for {adjusted_for} (E-value {row.e_value:.2f})."
    return core + ", with the other service factors held equal."


def service_findings(effects: pd.DataFrame, limit: int = 3, alpha: float = 0.05) -> list[str]:
    """The strongest service effects whose interval excludes 1, strongest first. `effects` is either each
    factor's own model (with `adjusted_for`) or the mutually adjusted model (with `pillar`)."""
    if effects is None or effects.empty:
        return []
    service = effects[effects.pillar.isin(SERVICE_PILLARS)] if "pillar" in effects.columns else effects
    service = service[service.p_value < alpha].copy()
    service["strength"] = service.hazard_ratio.map(lambda v: abs(math.log(v)))
    sentences = [effect_sentence(r) for r in service.sort_values("strength", ascending=False).head(limit).itertuples()]
    single = effects[effects.term == "bad_interactions_90d: 1 vs 0"]
    pattern = effects[effects.term == "bad_interactions_90d: 2+ vs 0"]
    if not single.empty and not pattern.empty and single.iloc[0].ci_lower <= 1 <= single.iloc[0].ci_upper \
            and pattern.iloc[0].ci_lower > 1:
        s = single.iloc[0]
        sentences.append(f"One bad interaction in 90 days was forgiven (hazard ratio {s.hazard_ratio:.2f}, 95% CI "
                         f"{s.ci_lower:.2f}–{s.ci_upper:.2f}); a pattern of two or more was not.")
    return sentences


def survival_finding(summary: pd.DataFrame) -> str | None:
    """The widest gap in one-year survival between groups, with both intervals."""
    needed = {"group", "survival_365d", "survival_365d_ci_lower", "survival_365d_ci_upper"}
    if summary is None or summary.empty or not needed <= set(summary.columns):
        return None
    data = summary.dropna(subset=["survival_365d"])
    if data.empty:
        return None
    if len(data) == 1:
        r = data.iloc[0]
        return (f"{percent(r.survival_365d)} of accounts are still customers a year after signup "
                f"(95% CI {percent(r.survival_365d_ci_lower)}–{percent(r.survival_365d_ci_upper)}).")
    low, high = data.loc[data.survival_365d.idxmin()], data.loc[data.survival_365d.idxmax()]
    return (f"A year after signup, {percent(high.survival_365d)} of {high.group} accounts are still customers "
            f"(95% CI {percent(high.survival_365d_ci_lower)}–{percent(high.survival_365d_ci_upper)}) against "
            f"{percent(low.survival_365d)} of {low.group} accounts "
            f"({percent(low.survival_365d_ci_lower)}–{percent(low.survival_365d_ci_upper)}).")


def findings_source_note(filtered: bool, refitted: bool, scoped: bool = False) -> str:
    """Where the overview's findings come from, in words, for its caption and its report ("" for every account)."""
    if refitted:
        return "With filters, these come from the mutually adjusted model refitted on the filtered accounts."
    if filtered or scoped:
        narrowed = "the filters and your scope do not" if filtered and scoped else (
            "your scope does not" if scoped else "the filters do not")
        return (f"The service findings come from models fitted at build time on every account: {narrowed} apply to "
                "them, since one book or slice has too few churns for models of its own (the survival finding is "
                f"{'your' if scoped else 'the filtered'} accounts').")
    return ""


def lever_sentence(row) -> str:
    """One lever in words with its intervals and what it rests on: "Halving first response time (median 6.2 h →
    3.1 h) would keep about 120 accounts (101–138) and $1.8M ARR ($1.5M–$2.1M) over the next year, if plan, case
    mix and volume are the confounders that matter."
    """
    fmt = FACTORS_BY_NAME[row.factor].words[1]
    typical = ""
    if row.typical_today is not None and not pd.isna(row.typical_today):
        typical = f" ({row.typical} {fmt.format(row.typical_today)} → {fmt.format(row.typical_with_change)})"
    horizon = "over the next year" if row.horizon_days == 365 else f"over the next {row.horizon_days} days"
    return (f"{row.words}{typical} would keep about {row.accounts_kept:,.0f} accounts "
            f"({row.accounts_kept_lower:,.0f}–{row.accounts_kept_upper:,.0f}) and {money(row.arr_kept)} ARR "
            f"({money(row.arr_kept_lower)}–{money(row.arr_kept_upper)}) {horizon}, if {row.adjusted_for} are the "
            "confounders that matter.")


def lever_findings(levers: pd.DataFrame, limit: int = LEVERS_SHOWN) -> list[str]:
    """The levers sure to keep some accounts (the interval's low end above zero), most ARR kept first."""
    if levers is None or levers.empty:
        return []
    sure = levers[levers.accounts_kept_lower > 0].sort_values("arr_kept", ascending=False, kind="stable")
    return [lever_sentence(r) for r in sure.head(limit).itertuples()]


def year_on_year(headline: list[dict]) -> str | None:
    """The KPI tiles' changes against a year earlier, in one sentence."""
    def name(label: str) -> str:
        first = label.split()[0]
        return label if first.isupper() else label[:1].lower() + label[1:]

    def change(delta: str) -> str:
        delta = delta.removesuffix(" vs a year earlier")
        return delta if delta[:1] in "+-−" else "+" + delta

    moved = [f"{name(m['label'])} {m['value']} ({change(m['delta'])})" for m in headline if m.get("delta")]
    return ("Against a year earlier: " + "; ".join(moved) + ".") if moved else None


# --- churn by cause ------------------------------------------------------------------------------

CAUSE_WINDOW_MONTHS = 12
LAST_YEAR, YEAR_EARLIER = "Last 12 months", "A year earlier"
NO_CHURN_REASONS = ("Churn is not split by cause: the accounts file has no `churn_reason` column (or leaves it empty), "
                    "so every churn counts as unknown. Add the reason each account left, as the billing tool writes "
                    "it, to split churn into voluntary and involuntary (see docs/data-contract.md).")


@dataclass(frozen=True)
class ChurnByCause:
    """Churned accounts and churned MRR per cause over the last twelve complete months and the twelve before.

    `totals` has one row per cause per period (churn_cause, period, churned_accounts, churned_mrr), zero where a
    cause had no churn in a period; the year earlier is left out (`compared` False) when the data do not reach back
    to its first month, since a part year would read as a fall in churn."""

    totals: pd.DataFrame
    first_month: pd.Timestamp
    last_month: pd.Timestamp
    compared: bool

    def period(self, name: str) -> pd.DataFrame:
        return self.totals[self.totals.period == name].set_index("churn_cause")

    @property
    def labels(self) -> dict[str, str]:
        """Each cause's words, for the chart."""
        return {cause: cause_label(cause) for cause in self.totals.churn_cause}


def churn_by_cause(monthly: pd.DataFrame, by_cause: pd.DataFrame) -> ChurnByCause | None:
    """The last CAUSE_WINDOW_MONTHS complete months of `by_cause` (kpi_monthly_causes) against the same months a
    year earlier; the months and which one is not over come from `monthly` (kpi_monthly), whose calendar has every
    month, churn or not. None when no month is over yet."""
    months = pd.to_datetime(monthly.month_start)
    complete = months[~monthly.is_partial_month.astype(bool).to_numpy()]
    if complete.empty:
        return None
    last = complete.max()
    first = last - pd.DateOffset(months=CAUSE_WINDOW_MONTHS - 1)
    earlier_first = first - pd.DateOffset(months=CAUSE_WINDOW_MONTHS)
    compared = bool(months.min() <= earlier_first)
    periods = [YEAR_EARLIER, LAST_YEAR] if compared else [LAST_YEAR]
    rows = by_cause.assign(month_start=pd.to_datetime(by_cause.month_start))
    rows = rows.assign(period=np.select(
        [(rows.month_start >= first) & (rows.month_start <= last),
         (rows.month_start >= earlier_first) & (rows.month_start < first)], [LAST_YEAR, YEAR_EARLIER], ""))
    rows = rows[rows.period.isin(periods)]
    causes = sorted(set(rows.churn_cause), key=cause_sort_key)
    sums = rows.groupby(["churn_cause", "period"])[["churned_accounts", "churned_mrr"]].sum()
    grid = pd.MultiIndex.from_product([causes, periods], names=["churn_cause", "period"])
    totals = sums.reindex(grid, fill_value=0).reset_index()
    totals["churned_accounts"] = totals.churned_accounts.astype(int)
    totals["churned_mrr"] = totals.churned_mrr.astype(float)
    return ChurnByCause(totals, first, last, compared)


def _month_span(first: pd.Timestamp, last: pd.Timestamp) -> str:
    return f"{first:%B %Y} to {last:%B %Y}"


def cause_periods_caption(split: ChurnByCause) -> str:
    """Which months each period counts, in words."""
    if split.compared:
        year = pd.DateOffset(years=1)
        earlier = f"; a year earlier, {_month_span(split.first_month - year, split.last_month - year)}"
    else:
        earlier = "; the data do not reach back a whole year before that, so there is no comparison"
    return (f"Last 12 months: {_month_span(split.first_month, split.last_month)}{earlier}. The month not over yet is "
            "left out. Churned MRR is each churned account's MRR in the month it left. These are counts, not "
            "estimates: each churn's cause is the reason the billing tool recorded.")


def cause_sentence(split: ChurnByCause | None, has_reasons: bool = True) -> str:
    """The split of the last twelve months' churn by cause in one sentence, against a year earlier, with what
    involuntary churn cost; without churn reasons in the data, why churn is not split."""
    if not has_reasons:
        return NO_CHURN_REASONS
    if split is None:
        return "No month is over yet, so there is no year of churn to split by cause."
    now, earlier = split.period(LAST_YEAR), split.period(YEAR_EARLIER) if split.compared else None
    total = int(now.churned_accounts.sum())
    earlier_total = int(earlier.churned_accounts.sum()) if earlier is not None else 0
    when = f"In the 12 months to {split.last_month:%B %Y},"
    if total == 0:
        before = f" (a year earlier {earlier_total:,})" if earlier is not None else ""
        return f"{when} no account churned{before}."
    shares = []
    for i, cause in enumerate(c for c in now.index if now.churned_accounts[c] > 0):
        share = f"{percent(now.churned_accounts[cause] / total, 0)} {_cause_adverb(cause)}"
        if earlier is not None and earlier_total > 0:
            before = percent(earlier.churned_accounts[cause] / earlier_total, 0)
            share += f" ({'a year earlier ' if i == 0 else ''}{before})"
        shares.append(share)
    sentence = f"{when} {total:,} {'account' if total == 1 else 'accounts'} churned: " + _listing(shares)
    if "involuntary" in now.index and now.churned_accounts["involuntary"] > 0:
        cost = money(float(now.churned_mrr["involuntary"]))
        before = f" (a year earlier {money(float(earlier.churned_mrr['involuntary']))})" if earlier is not None else ""
        sentence += (f"; involuntary churn — failed payments, which support cannot prevent — cost {cost} of MRR"
                     f"{before}")
    return sentence + "."


def _cause_adverb(cause: str) -> str:
    return CAUSE_ADVERBS.get(cause) or f"counted as {cause_short_label(cause)}"


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def cause_table(split: ChurnByCause) -> pd.DataFrame:
    """One row per cause and one for all churn: churned accounts and churned MRR in the last twelve months, each
    cause's share of the churned accounts, and (when the data reach back) a year earlier and the change, formatted
    for reading (thousands separated, MRR in dollars)."""
    now = split.period(LAST_YEAR)
    earlier = split.period(YEAR_EARLIER) if split.compared else None
    total = int(now.churned_accounts.sum())
    rows = []
    for cause in [*now.index, None]:
        accounts, mrr = _of(now, cause, "churned_accounts"), _of(now, cause, "churned_mrr")
        row = {"Cause": ALL_CHURN_WORDS if cause is None else cause_label(cause),
               "Churned accounts, last 12 months": f"{accounts:,.0f}",
               "Share of churned accounts": percent(accounts / total, 0) if total else "—"}
        if earlier is not None:
            before = _of(earlier, cause, "churned_accounts")
            row["Churned accounts, a year earlier"] = f"{before:,.0f}"
            row["Change in churned accounts"] = _change(accounts, before, lambda v: f"{v:+,.0f}")
        row["Churned MRR, last 12 months"] = _dollars(mrr)
        if earlier is not None:
            before = _of(earlier, cause, "churned_mrr")
            row["Churned MRR, a year earlier"] = _dollars(before)
            row["Change in churned MRR"] = _change(mrr, before, lambda v: ("+" if v >= 0 else "-") + _dollars(abs(v)))
        rows.append(row)
    return pd.DataFrame(rows)


def _of(period: pd.DataFrame, cause: str | None, column: str) -> float:
    """One cause's value in a period, or all causes' (None)."""
    return float(period[column].sum() if cause is None else period[column][cause])


def _dollars(value: float) -> str:
    return f"{'-' if value < 0 else ''}${abs(value):,.0f}"


def _change(now: float, before: float, fmt) -> str:
    """"+12 (+8%)"; a change from none a year earlier has no percentage."""
    if before == 0:
        return fmt(now - before) + (" (none a year earlier)" if now else "")
    return f"{fmt(now - before)} ({(now - before) / before:+.0%})"


FORECAST_INTERVALS_IN_WORDS = (
    "Ranges are 80% intervals from simulations of the coming months (the bands show 80% and 95%): they carry how "
    "uncertain the churn rates are, how churn swings from month to month, how many new accounts come and which "
    "accounts leave. They assume a future like the past: new pricing, a recession or a new competitor is not in "
    "them.")
# the months of history drawn before a forecast: enough to see the trend it continues, few enough to see the forecast
FORECAST_HISTORY_MONTHS = 24


def _day(value) -> str:
    day = pd.Timestamp(value)
    return f"{day.day} {day:%b %Y}"


def forecast_sentence(forecast: pd.DataFrame) -> str | None:
    """Where the forecast ends, in one sentence: active accounts and MRR with their 80% intervals, and how many of
    the accounts are today's (None without a forecast)."""
    if forecast is None or forecast.empty:
        return None
    last = forecast[forecast.month_number == forecast.month_number.max()].set_index("measure")
    accounts = last.loc["active_accounts"]
    sentence = (f"By {_day(accounts.month_end)}: {accounts.estimate:,.0f} active accounts "
                f"({accounts.lower_80:,.0f}–{accounts.upper_80:,.0f})")
    if "mrr" in last.index:
        revenue = last.loc["mrr"]
        sentence += (f" and {money(revenue.estimate)} MRR ({money(revenue.lower_80)}–{money(revenue.upper_80)})")
    sentence += "."
    if "existing_base_accounts" in last.index:
        base = last.loc["existing_base_accounts"]
        sentence += (f" About {base.estimate:,.0f} of those accounts ({base.lower_80:,.0f}–{base.upper_80:,.0f}) "
                     "are customers today; the rest are new business.")
    return sentence


def forecast_history(monthly: pd.DataFrame, measure: str) -> pd.DataFrame:
    """What happened before a forecast, for its chart: active accounts (`measure` "active_accounts") or MRR
    ("mrr") at the start of each of the last FORECAST_HISTORY_MONTHS months (columns date, value)."""
    column = {"active_accounts": "accounts_at_start", "mrr": "starting_mrr"}[measure]
    recent = monthly.sort_values("month_start").tail(FORECAST_HISTORY_MONTHS)
    return pd.DataFrame({"date": pd.to_datetime(recent.month_start), "value": recent[column].astype(float)})


FORECAST_TABLE_MEASURES = {
    "active_accounts": ("Active accounts", "{:,.0f}"),
    "existing_base_accounts": ("of which customers today", "{:,.0f}"),
    "new_business_accounts": ("of which new business", "{:,.0f}"),
    "churned_accounts": ("Churned accounts since as-of", "{:,.0f}"),
    "mrr": ("MRR", None),
    "existing_base_mrr": ("MRR of today's customers", None),
    "new_business_mrr": ("MRR of new business", None),
    "net_revenue_retention": ("Net revenue retention of today's MRR", "{:.1%}"),
    "gross_revenue_retention": ("Gross revenue retention of today's MRR", "{:.1%}"),
}


def forecast_table(forecast: pd.DataFrame) -> pd.DataFrame:
    """The forecast as a reader scans it: one row per month, one column per measure, each cell the estimate and its
    80% interval in words and units."""
    rows: dict[tuple, dict[str, str]] = {}
    causes = sorted({m.removeprefix(CAUSE_MEASURE_PREFIX) for m in forecast.measure
                     if m.startswith(CAUSE_MEASURE_PREFIX)}, key=cause_sort_key)
    labels = {**FORECAST_TABLE_MEASURES,
              **{CAUSE_MEASURE_PREFIX + c: (f"of which {cause_short_label(c)}", "{:,.0f}") for c in causes}}
    for row in forecast.itertuples():
        if row.measure not in labels:
            continue
        label, pattern = labels[row.measure]
        show = money if pattern is None else pattern.format
        rows.setdefault((row.month_end, row.month), {})[label] = (
            f"{show(row.estimate)} ({show(row.lower_80)}–{show(row.upper_80)})")
    table = pd.DataFrame([{"Month ending": _day(end), **cells} for (end, _), cells in sorted(rows.items())])
    # each cause's churn right after all churn
    ordered = list(FORECAST_TABLE_MEASURES)
    ordered[ordered.index("churned_accounts") + 1:ordered.index("churned_accounts") + 1] = [
        CAUSE_MEASURE_PREFIX + c for c in causes]
    order = ["Month ending"] + [labels[m][0] for m in ordered if labels[m][0] in table.columns]
    return table[order]


def forecast_cause_sentence(forecast: pd.DataFrame) -> str | None:
    """How the accounts expected to churn by the forecast's end split by cause, with 80% intervals (None without
    churn causes)."""
    if forecast is None or forecast.empty:
        return None
    last = forecast[forecast.month_number == forecast.month_number.max()]
    causes = last[last.measure.str.startswith(CAUSE_MEASURE_PREFIX)].assign(
        cause=lambda frame: frame.measure.str.removeprefix(CAUSE_MEASURE_PREFIX))
    if causes.empty:
        return None
    total = last.set_index("measure").loc["churned_accounts"]
    parts = [f"{row.estimate:,.0f}{' would leave' if k == 0 else ''} {_cause_adverb(row.cause)} "
             f"({row.lower_80:,.0f}–{row.upper_80:,.0f})"
             for k, row in enumerate(sorted(causes.itertuples(), key=lambda row: cause_sort_key(row.cause)))]
    return (f"Of the {total.estimate:,.0f} accounts expected to churn by {_day(total.month_end)} "
            f"({total.lower_80:,.0f}–{total.upper_80:,.0f}), about {_listing(parts)}, if each cause keeps its past "
            "share of churn at each tenure.")
