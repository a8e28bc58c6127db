"""Plain-word findings from the models, each with its interval: pure functions, tested without Streamlit."""

from __future__ import annotations

import math

import pandas as pd

from dashboard.charts import percent
from pipelines.drivers import SERVICE_PILLARS

PHRASES = {
    "first_response_hours": "accounts whose median first response time doubled",
    "resolution_hours": "accounts whose median resolution time doubled",
    "sla_breach_rate": "each 10-point rise in the share of SLA-breaching tickets",
    "handoff_rate": "each 10-point rise in the share of tickets handed off",
    "escalation_rate": "each 10-point rise in the escalation rate",
    "reopen_rate": "each 10-point rise in the reopen rate",
    "repeat_contact_rate": "each 10-point rise in repeat contacts within 7 days",
    "csat": "each point lower average CSAT",
    "agent_update_rate": "each 10-point rise in tickets with proactive updates",
    "bad_interactions_90d: 2+ vs 0": "accounts with two or more bad interactions in 90 days",
    "bad_interactions_90d: 1 vs 0": "accounts with a single bad interaction in 90 days",
    "credited_bad_interactions_90d": "accounts whose bad interaction was answered with a goodwill credit",
}


def _ratio(hr: float, lo: float, hi: float) -> str:
    return f"{hr:.2f}× (95% CI {lo:.2f}–{hi:.2f})"


def effect_sentence(row: pd.Series) -> str:
    subject = PHRASES.get(row.term, f"{row.term} ({row.unit})")
    subject = subject[0].upper() + subject[1:]
    if row.hazard_ratio >= 1:
        verb = "churned" if subject.startswith("Accounts") else "went with"
        core = f"{subject} {verb} {_ratio(row.hazard_ratio, row.ci_lower, row.ci_upper)} as often" if verb == "churned" \
            else f"{subject} went with {_ratio(row.hazard_ratio, row.ci_lower, row.ci_upper)} the churn risk"
    else:
        core = (f"{subject} went with {percent(1 - row.hazard_ratio, 0)} lower churn risk "
                f"({row.hazard_ratio:.2f}×, 95% CI {row.ci_lower:.2f}–{row.ci_upper:.2f})")
    return core + ", other factors held equal."


def service_findings(effects: pd.DataFrame, limit: int = 3, alpha: float = 0.05) -> list[str]:
    """The strongest service associations whose interval excludes 1, strongest first."""
    if effects is None or effects.empty:
        return []
    service = effects[effects.pillar.isin(SERVICE_PILLARS) & (effects.p_value < alpha)].copy()
    service["strength"] = service.hazard_ratio.map(lambda v: abs(math.log(v)))
    sentences = [effect_sentence(r) for r in service.sort_values("strength", ascending=False).head(limit).itertuples()]
    single = effects[effects.term == "bad_interactions_90d: 1 vs 0"]
    pattern = effects[effects.term == "bad_interactions_90d: 2+ vs 0"]
    if not single.empty and not pattern.empty and single.iloc[0].ci_lower <= 1 <= single.iloc[0].ci_upper \
            and pattern.iloc[0].ci_lower > 1:
        s = single.iloc[0]
        sentences.append(f"One bad interaction in 90 days was forgiven ({s.hazard_ratio:.2f}×, 95% CI "
                         f"{s.ci_lower:.2f}–{s.ci_upper:.2f}); "
                         "a pattern of two or more was not.")
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
