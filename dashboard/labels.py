"""What a person reads for a segment column and a filter: the app's one home for such labels (pure functions).

Service measures and model terms have theirs in the factor registry (`pipelines.models.factors`); the user's own
segment columns are named from their headers, title-cased, with the acronyms support teams write in capitals.
"""

from __future__ import annotations

import re

from pipelines.churn_reasons import UNKNOWN
from pipelines.filters import SET_OPERATOR, FilterError, set_values

ACRONYMS = {"csm": "CSM", "arr": "ARR", "mrr": "MRR", "id": "ID", "sla": "SLA", "csat": "CSAT", "nps": "NPS",
            "crm": "CRM", "emea": "EMEA", "apac": "APAC", "latam": "LATAM", "us": "US", "uk": "UK"}
COHORT_FROM, COHORT_TO = "signup_cohort_month>=", "signup_cohort_month<="
# How a comparison reads after the column's label; `=` keeps its sign, as in "Plan = Starter".
OPERATOR_WORDS = {"=": "=", "!=": "is not", ">=": "at least", "<=": "at most", ">": "above", "<": "below"}
FILTER_OPERATOR = re.compile(r"(>=|<=|!=|=|>|<)|\s+in(?=\s|$)", re.IGNORECASE)
# A column named with one of these words holds money, shown with $.
MONEY_WORDS = {"mrr", "arr", "revenue"}


def segment_label(name: str) -> str:
    """"company_size" -> "Company Size", "csm" -> "CSM"."""
    words = [w for w in re.split(r"[_\s]+", str(name)) if w]
    return " ".join(ACRONYMS.get(w.lower(), w[:1].upper() + w[1:]) for w in words) or str(name)


def is_money(column: str) -> bool:
    """Whether a column holds money (MRR, ARR, revenue), shown with $."""
    return bool(set(re.split(r"[_\s]+", str(column).lower())) & MONEY_WORDS)


def filter_words(text: str) -> str:
    """One filter as a person reads it: "plan=Starter" -> "Plan = Starter", "plan in Starter|Growth" -> "Plan is
    Starter or Growth", "mrr>=100" -> "MRR at least $100", a cohort bound as a signup month.

    The column is read up to the first operator (labels have no allow-list): a column whose name holds one reads
    oddly here, while the filter itself is parsed against the build's columns. Text that is no filter is shown as
    it is."""
    if text.startswith(COHORT_FROM):
        return f"signed up from {text.removeprefix(COHORT_FROM)}"
    if text.startswith(COHORT_TO):
        return f"signed up by {text.removeprefix(COHORT_TO)}"
    split = _split_filter(text)
    if split is None:
        return text
    column, operator, raw = split
    if operator == SET_OPERATOR:
        try:
            return f"{segment_label(column)} is {_either(set_values(raw))}"
        except FilterError:
            return text
    return f"{segment_label(column)} {OPERATOR_WORDS[operator]} {_value_words(column, raw)}"


def filters_in_words(texts) -> list[str]:
    """Each filter in words, with a lower and an upper bound on one number read as one range, where the lower bound
    stood: ("mrr>=100", "mrr<=500") -> ["MRR $100–$500"]. Cohort bounds keep their own words."""
    bounds: dict[str, dict[str, str]] = {}  # column -> {">=": its first lower bound's text, "<=": the upper's}
    bound_values: dict[str, str] = {}  # a bound's text -> its value text
    for text in texts:
        split = _split_filter(text)
        if split and split[1] in (">=", "<=") and not text.startswith((COHORT_FROM, COHORT_TO)):
            bounds.setdefault(split[0], {}).setdefault(split[1], text)
            bound_values[text] = split[2]
    words = []
    for text in texts:
        split = _split_filter(text)
        pair = bounds.get(split[0], {}) if split else {}
        if len(pair) < 2 or text not in pair.values():
            words.append(filter_words(text))
        elif split and text == pair[">="]:  # the upper bound is said here too
            column = split[0]
            low, high = (_value_words(column, bound_values[pair[op]]) for op in (">=", "<="))
            words.append(f"{segment_label(column)} {low}–{high}")
    return words


def _split_filter(text: str) -> tuple[str, str, str] | None:
    """(column, operator, value text) of a filter text, split at its first operator; None without one."""
    match = FILTER_OPERATOR.search(text)
    if match is None or not text[: match.start()].strip():
        return None
    return text[: match.start()].strip(), match.group(1) or SET_OPERATOR, text[match.end():].strip()


def _either(values) -> str:
    """("Starter", "Growth", "Pro") -> "Starter, Growth or Pro"."""
    values = list(values)
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def _value_words(column: str, raw: str) -> str:
    """A bound as a person reads it: money with $, thousands separated, a year as it is; text as it is."""
    try:
        number = float(raw)
    except ValueError:
        return raw
    if "year" in re.split(r"[_\s]+", column.lower()):
        return raw
    if is_money(column):
        amount = f"{abs(number):,.0f}" if number.is_integer() else f"{abs(number):,.2f}"
        return f"{'-' if number < 0 else ''}${amount}"
    return f"{int(number):,}" if number.is_integer() else f"{number:,}"


def natural_key(value) -> tuple:
    """Sorts "1-10", "11-50", "51-200", "201-1000", "1000+" by their numbers, and text as text."""
    parts = re.split(r"(\d+(?:\.\d+)?)", str(value))
    return tuple((0, float(p)) if re.fullmatch(r"\d+(?:\.\d+)?", p) else (1, p.lower()) for p in parts if p)


# where the build's monthly revenue came from (build_info.revenue_basis), in words
REVENUE_BASIS_WORDS = {"mrr_history": "the monthly MRR history",
                       "flat_mrr": "each account's current MRR (no MRR history was given)"}


def revenue_basis_words(basis: str) -> str:
    return REVENUE_BASIS_WORDS.get(basis, basis.replace("_", " "))


# the characters Streamlit's Markdown reads as formatting (and `$` as the start of maths)
MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~$])")


def literal(text: object) -> str:
    """Text a person supplied (a file name, an error about it) as it is, not as Markdown: `Q3 *final*.csv` must not
    turn bold, nor `$5` into maths."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


# What each churn cause means, as the pages name it; an analyst's own cause is its name, title-cased. The two causes
# every reasons file knows come first, an analyst's next, and a churn with no reason last, as what is left over.
CAUSE_WORDS = {"voluntary": "Voluntary (customer chose to leave)", "involuntary": "Involuntary (payment failed)",
               UNKNOWN: "Unknown (no reason given)"}
ALL_CHURN_WORDS = "All churn"
# how a share of churn reads after its percentage: "64% voluntarily"
CAUSE_ADVERBS = {"voluntary": "voluntarily", "involuntary": "involuntarily", UNKNOWN: "with no reason given"}


def cause_label(cause: str) -> str:
    """"voluntary" -> "Voluntary (customer chose to leave)", "downgrade_to_free" -> "Downgrade To Free"."""
    return CAUSE_WORDS.get(cause) or segment_label(cause)


def cause_short_label(cause: str) -> str:
    """A cause in running text, lower case: "voluntary", "involuntary", "downgrade to free"."""
    return cause_label(cause).split(" (")[0].lower() if cause in CAUSE_WORDS else segment_label(cause).lower()


def cause_sort_key(cause: str) -> tuple:
    """Voluntary, involuntary, an analyst's causes by name, then unknown."""
    known = ("voluntary", "involuntary")
    if cause in known:
        return (0, known.index(cause), "")
    return (2, 0, "") if cause == UNKNOWN else (1, 0, str(cause))
