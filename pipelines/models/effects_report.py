"""The churn drivers as a person reads them in a file: each factor's own model, the one to act on, beside the
mutually adjusted model, one row per model term, in words, rounded, under human column headers.

`retention drivers --format csv|json` and the drivers page's downloads both write this one table, so a file
from either reads the same. Rounding: hazard ratios, their intervals and E-values to 2 decimals (a ratio is
never read finer than that), p-values to 3 significant figures (so a very small one stays readable).
"""

from __future__ import annotations

import math

import pandas as pd

from .factors import FACTORS_BY_NAME, label
from .jsonable import json_ready

OWN_MODEL = "each factor's own model"
MUTUALLY_ADJUSTED = "mutually adjusted"
# what each model was adjusted for, where its rows do not say it themselves
MUTUALLY_ADJUSTED_FOR = "every other term in the model"
MUTUALLY_NOT_ADJUSTED_FOR = "nothing: it holds the factor's own consequences fixed too"
MISSING_PREFIX = "missing: "

# the report's columns, in the order a reader needs them, under the headers the file carries
HEADERS = {
    "model": "model",
    "factor": "factor",
    "level": "level",
    "unit": "unit",
    "hazard_ratio": "hazard ratio",
    "ci_lower": "95% CI lower",
    "ci_upper": "95% CI upper",
    "p_value": "p-value",
    "e_value": "E-value",
    "e_value_ci": "E-value of the CI",
    "adjusted_for": "adjusted for",
    "not_adjusted_for": "not adjusted for (its consequences)",
    "ph_p_value": "proportional hazards test p-value",
    "pillar": "pillar",
    "term": "model term",
}
TWO_DECIMALS = ("hazard_ratio", "ci_lower", "ci_upper", "e_value", "e_value_ci")
THREE_SIGNIFICANT = ("p_value", "ph_p_value")


def factor_in_words(factor: str) -> str:
    """A model term's factor as a reader says it: the registry's label ("first response time"), a missing-measure
    indicator by its measures' labels ("missing: first response time, SLA breach rate"), a segment column by its
    words ("company size")."""
    if factor.startswith(MISSING_PREFIX):
        names = factor.removeprefix(MISSING_PREFIX).split(", ")
        return MISSING_PREFIX + ", ".join(factor_in_words(name) for name in names)
    return label(factor) if factor in FACTORS_BY_NAME else factor.replace("_", " ")


def level_of(term: str, factor: str, level: str | None = None) -> str:
    """The level a term names within its factor ("2+ vs 0", "Growth"), or "" for a factor with one term."""
    if level:
        return level
    if ": " in term and term.split(": ", 1)[0] in FACTORS_BY_NAME:
        return term.split(": ", 1)[1]
    if term.startswith(f"{factor}="):
        return term.split("=", 1)[1]
    return ""


def significant(value: float | None, digits: int = 3) -> float | None:
    """`value` to `digits` significant figures (0.0001234 -> 0.000123); None for a missing or infinite one."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def effects_report(mutually_adjusted: pd.DataFrame, own: pd.DataFrame | None = None,
                   fitted_on: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per term of each factor's own model (`own`, as factor_effects holds it), then per term of the
    mutually adjusted model (as driver_effects holds it), under HEADERS; `fitted_on` (model -> the accounts it was
    fitted on, OWN_MODEL and MUTUALLY_ADJUSTED) adds a first column saying so."""
    parts = []
    if own is not None and not own.empty:
        parts.append(own.assign(model=OWN_MODEL, level=[level_of(t, f) for t, f in zip(own.term, own.factor)],
                                pillar=[FACTORS_BY_NAME[f].pillar if f in FACTORS_BY_NAME else "" for f in own.factor]))
    if not mutually_adjusted.empty:
        levels = mutually_adjusted.level if "level" in mutually_adjusted.columns else [None] * len(mutually_adjusted)
        parts.append(mutually_adjusted.assign(
            model=MUTUALLY_ADJUSTED, adjusted_for=MUTUALLY_ADJUSTED_FOR, not_adjusted_for=MUTUALLY_NOT_ADJUSTED_FOR,
            level=[level_of(t, f, lv) for t, f, lv in zip(mutually_adjusted.term, mutually_adjusted.factor, levels)]))
    if not parts:
        return pd.DataFrame(columns=list(HEADERS.values()))
    rows = pd.concat(parts, ignore_index=True)
    table = pd.DataFrame({column: rows[column] if column in rows.columns else None for column in HEADERS})
    table["factor"] = [factor_in_words(f) for f in table.factor]
    for column in TWO_DECIMALS:
        table[column] = pd.to_numeric(table[column], errors="coerce").round(2)
    for column in THREE_SIGNIFICANT:
        table[column] = [significant(v) for v in pd.to_numeric(table[column], errors="coerce")]
    table = table.rename(columns=HEADERS)
    if fitted_on:
        table.insert(0, "fitted on", [fitted_on.get(model, "") for model in table["model"]])
    return table


def effects_report_json(table: pd.DataFrame, **about) -> dict:
    """The report as JSON: what it is about (`about`, e.g. the model's information and notes), then its rows as
    records under the same headers as the CSV, a missing number as null."""
    records = [{key: (None if isinstance(value, float) and math.isnan(value) else value) for key, value in row.items()}
               for row in table.to_dict("records")]
    return json_ready({**about, "effects": records})
