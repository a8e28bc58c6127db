"""Plain-word findings from the models, each with its interval: pure functions, tested without Streamlit."""

from __future__ import annotations

import math

import pandas as pd

from dashboard.charts import money, percent
from pipelines.models.factors import FACTORS_BY_NAME, SERVICE_PILLARS, TERMS_BY_NAME

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
