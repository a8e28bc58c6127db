"""The one registry of service factors: for each, its panel column, pillar, unit and transform (how it enters a
model), its words (label, phrase, how a value is shown), which direction is better, and the kind of change a
what-if applies to it. Every model, page and report reads a factor's metadata from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

# Times below one minute are clipped so a doubling scale stays finite (an instant auto-reply is "1 minute").
MIN_HOURS = 1.0 / 60.0


def _log2_hours(x: pd.Series) -> pd.Series:
    return np.log2(x.clip(lower=MIN_HOURS))


def _per_10pp(x: pd.Series) -> pd.Series:
    return x * 10.0


@dataclass(frozen=True)
class Term:
    name: str  # the term as a model names it: "first_response_hours", "bad_interactions_90d: 2+ vs 0"
    label: str  # short level label ("2+ vs 0") or "" for a single-term factor
    transform: Callable[[pd.Series], pd.Series]
    phrase: str = ""  # the subject of a finding: "accounts whose median first response time doubled"


@dataclass(frozen=True)
class Factor:
    name: str
    column: str  # its account_months column
    pillar: str
    unit: str  # the unit of its hazard ratio
    terms: tuple[Term, ...]
    label: str  # what pages call it: "first response time" (never the column name)
    # plain words for an account's value: a template with {value} and {typical}, and the value's format
    words: tuple[str, str] = ("{value} (typical {typical})", "{:.2f}")
    # "duration" (scaled by a %), "rate" (shifted in points), "score" (shifted on its scale) or None: no what-if
    change: str | None = None
    change_range: tuple[float, float] | None = None  # a changed score is clipped to it
    # True when more is better service, False when less is, None for what is not service quality
    higher_is_better: bool | None = False
    # the change a lever is shown with on the overview and the investment case's starting point (what-if syntax)
    lever: str | None = None
    # the lever in words, as the subject of a sentence: "Halving first response time"
    lever_words: str | None = None
    # A case-mix share is missing exactly when the window has no ticket, which the ticket volume term and the
    # service measures' own indicators already tell apart; a second, near-identical indicator would leave the
    # few rows between them (tickets, none answered yet) to separate the two and blow up both estimates.
    missing_indicator: bool = True

    @property
    def title(self) -> str:
        """The label as a heading: "First response time"."""
        return self.label[:1].upper() + self.label[1:]


def _single(name: str, transform, phrase: str = "") -> tuple[Term, ...]:
    return (Term(name, "", transform, phrase),)


FACTORS: tuple[Factor, ...] = (
    Factor("first_response_hours", "first_response_hours_median", "quick",
           "per doubling of the median first response time",
           _single("first_response_hours", _log2_hours, "accounts whose median first response time doubled"),
           "first response time", ("first response {value} (typical {typical})", "{:.1f} h"), "duration",
           lever="-50%", lever_words="Halving first response time"),
    Factor("sla_breach_rate", "sla_breach_rate", "quick", "per +10 percentage points",
           _single("sla_breach_rate", _per_10pp, "each 10-point rise in the share of SLA-breaching tickets"),
           "SLA breach rate", ("SLA breached on {value} of tickets (typical {typical})", "{:.0%}"), "rate",
           lever="-5pp", lever_words="Breaching the SLA on 5 points fewer tickets"),
    Factor("handoff_rate", "handoff_rate", "competent", "per +10 percentage points",
           _single("handoff_rate", _per_10pp, "each 10-point rise in the share of tickets handed off"),
           "handoff rate", ("handed off on {value} of tickets (typical {typical})", "{:.0%}"), "rate",
           lever="-5pp", lever_words="Handing off 5 points fewer tickets"),
    Factor("escalation_rate", "escalation_rate", "competent", "per +10 percentage points",
           _single("escalation_rate", _per_10pp, "each 10-point rise in the escalation rate"),
           "escalation rate", ("escalated on {value} of tickets (typical {typical})", "{:.0%}"), "rate",
           lever="-5pp", lever_words="Escalating 5 points fewer tickets"),
    Factor("reopen_rate", "reopen_rate", "complete resolution", "per +10 percentage points",
           _single("reopen_rate", _per_10pp, "each 10-point rise in the reopen rate"),
           "reopen rate", ("reopened {value} of tickets (typical {typical})", "{:.0%}"), "rate",
           lever="-5pp", lever_words="Reopening 5 points fewer tickets"),
    Factor("repeat_contact_rate", "repeat_contact_rate", "complete resolution", "per +10 percentage points",
           _single("repeat_contact_rate", _per_10pp, "each 10-point rise in repeat contacts within 7 days"),
           "repeat contact rate", ("repeat contacts on {value} of tickets (typical {typical})", "{:.0%}"), "rate",
           lever="-5pp", lever_words="5 points fewer repeat contacts"),
    Factor("resolution_hours", "resolution_hours_median", "complete resolution",
           "per doubling of the median resolution time",
           _single("resolution_hours", _log2_hours, "accounts whose median resolution time doubled"),
           "resolution time", ("resolution time {value} (typical {typical})", "{:.1f} h"), "duration",
           lever="-50%", lever_words="Halving resolution time"),
    Factor("csat", "csat_mean", "courteous", "per 1 point lower CSAT",
           _single("csat", lambda x: -x, "each point lower average CSAT"),
           "CSAT", ("CSAT {value} (typical {typical})", "{:.1f}"), "score", (1.0, 5.0), higher_is_better=True,
           lever="+0.5", lever_words="Raising CSAT by half a point"),
    Factor("agent_update_rate", "agent_update_rate", "keep me informed", "per +10 percentage points",
           _single("agent_update_rate", _per_10pp, "each 10-point rise in tickets with proactive updates"),
           "proactive update rate", ("proactive updates on {value} of tickets (typical {typical})", "{:.0%}"),
           "rate", higher_is_better=True, lever="+10pp", lever_words="Proactive updates on 10 points more tickets"),
    Factor("bad_interactions_90d", "bad_interactions_90d", "pattern", "vs none in 90 days",
           (Term("bad_interactions_90d: 1 vs 0", "1 vs 0", lambda x: (x == 1).astype(float),
                 "accounts with a single bad interaction in 90 days"),
            Term("bad_interactions_90d: 2+ vs 0", "2+ vs 0", lambda x: (x >= 2).astype(float),
                 "accounts with two or more bad interactions in 90 days")),
           "bad interactions in the window", ("{value} bad interactions in 90 days (typical {typical})", "{:.0f}")),
    # a credit answers a bad interaction; fewer credits is not better service
    Factor("credited_bad_interactions_90d", "credited_bad_interactions_90d", "pattern",
           "any bad interaction answered with a goodwill credit vs none",
           _single("credited_bad_interactions_90d", lambda x: (x >= 1).astype(float),
                   "accounts whose bad interaction was answered with a goodwill credit"),
           "credited bad interactions",
           ("{value} credited bad interactions in 90 days (typical {typical})", "{:.0f}"), higher_is_better=None),
    # volume is not service quality: an adjustment, not a lever
    Factor("tickets_90d", "tickets_90d", "control", "per doubling of (1 + tickets in 90 days)",
           _single("tickets_90d", lambda x: np.log2(1.0 + x)),
           "ticket volume", ("{value} tickets in 90 days (typical {typical})", "{:.0f}"), higher_is_better=None),
    Factor("high_priority_share", "high_priority_share_90d", "case mix",
           "per +10 percentage points of tickets that are urgent or high", _single("high_priority_share", _per_10pp),
           "share of urgent or high tickets", ("{value} of tickets urgent or high (typical {typical})", "{:.0%}"),
           higher_is_better=None, missing_indicator=False),
    Factor("live_channel_share", "live_channel_share_90d", "case mix",
           "per +10 percentage points of tickets on a live channel (chat, phone)",
           _single("live_channel_share", _per_10pp),
           "share of tickets on chat or phone", ("{value} of tickets on chat or phone (typical {typical})", "{:.0%}"),
           higher_is_better=None, missing_indicator=False),
)
FACTORS_BY_NAME = {f.name: f for f in FACTORS}
TERMS_BY_NAME = {t.name: t for f in FACTORS for t in f.terms}
# the pillars of the customer's metric; the rest (case mix, control, account, missing indicator) are adjustments
SERVICE_PILLARS = ("quick", "competent", "complete resolution", "courteous", "keep me informed", "pattern")
PILLAR_ORDER = ("quick", "competent", "complete resolution", "courteous", "keep me informed", "pattern",
                "case mix", "control", "account", "missing indicator")
# factors a what-if can change, by the kind of change
CHANGEABLE = tuple(f.name for f in FACTORS if f.change is not None)
# the panel columns stored beside each account's risk
MEASURE_COLUMNS = tuple(f.column for f in FACTORS) + ("credits_90d",)


def label(name: str) -> str:
    """A factor's label ("first response time"), or the name itself for anything else (a segment column)."""
    factor = FACTORS_BY_NAME.get(name)
    return factor.label if factor is not None else name


def title(name: str) -> str:
    """A factor's label as a heading ("First response time")."""
    factor = FACTORS_BY_NAME.get(name)
    return factor.title if factor is not None else name


def term_words(term: str) -> str:
    """A model term as a note names it: "bad interactions in the window (2+ vs 0)", "CSAT not measured", never the
    column name; a segment term ("company_size=1-10") with its underscores as spaces."""
    if term.startswith("missing: "):
        return f"{label(term[len('missing: '):])} not measured"
    for factor in FACTORS:
        for candidate in factor.terms:
            if candidate.name == term:
                return factor.label + (f" ({candidate.label})" if candidate.label else "")
    return term.replace("_", " ")
