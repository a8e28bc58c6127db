"""What a person reads for a segment column and a filter: the app's one home for such labels (pure functions).

Service measures and model terms have theirs in the factor registry (`pipelines.models.factors`); the user's own
segment columns are named from their headers, title-cased, with the acronyms support teams write in capitals.
"""

from __future__ import annotations

import re

ACRONYMS = {"csm": "CSM", "arr": "ARR", "mrr": "MRR", "id": "ID", "sla": "SLA", "csat": "CSAT", "nps": "NPS",
            "crm": "CRM", "emea": "EMEA", "apac": "APAC", "latam": "LATAM", "us": "US", "uk": "UK"}
COHORT_FROM, COHORT_TO = "signup_cohort_month>=", "signup_cohort_month<="


def segment_label(name: str) -> str:
    """"company_size" -> "Company Size", "csm" -> "CSM"."""
    words = [w for w in re.split(r"[_\s]+", str(name)) if w]
    return " ".join(ACRONYMS.get(w.lower(), w[:1].upper() + w[1:]) for w in words) or str(name)


def filter_words(text: str) -> str:
    """One filter as a person reads it: "plan=Starter" -> "Plan = Starter", a cohort bound as a signup month."""
    if text.startswith(COHORT_FROM):
        return f"signed up from {text.removeprefix(COHORT_FROM)}"
    if text.startswith(COHORT_TO):
        return f"signed up by {text.removeprefix(COHORT_TO)}"
    column, _, value = text.partition("=")
    return f"{segment_label(column)} = {value}" if value else text


def natural_key(value) -> tuple:
    """Sorts "1-10", "11-50", "51-200", "201-1000", "1000+" by their numbers, and text as text."""
    parts = re.split(r"(\d+(?:\.\d+)?)", str(value))
    return tuple((0, float(p)) if re.fullmatch(r"\d+(?:\.\d+)?", p) else (1, p.lower()) for p in parts if p)
