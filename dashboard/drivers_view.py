"""Tables and text for the drivers page, from the stored (or filtered) fit: pure functions."""

from __future__ import annotations

import json
import math

import pandas as pd

from dashboard.findings import NO_CHURN_REASONS
from dashboard.labels import ALL_CHURN_WORDS, cause_short_label
from pipelines.churn_reasons import UNKNOWN
from pipelines.models.effects_report import (MUTUALLY_ADJUSTED, OWN_MODEL, effects_report, effects_report_json,
                                             factor_in_words, level_of)
from pipelines.models.factors import FACTORS, FACTORS_BY_NAME, SERVICE_PILLARS, TERMS_BY_NAME, label, term_words
from pipelines.settings import MIN_CAUSE_CHURNS

# the factors' own models are fitted at build time on every account, whatever the page's filters
OWN_MODELS_FITTED_ON = "every account, at build time"


def split_terms(effects: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    service = effects[effects.pillar.isin(SERVICE_PILLARS)]
    return service, effects[~effects.pillar.isin(SERVICE_PILLARS)]


def factor_label(name: str) -> str:
    return label(name) if name in FACTORS_BY_NAME else name.replace("_", " ")


def quartile_factors(effects: pd.DataFrame) -> list[str]:
    """Factors with a continuous measure (quartiles make sense), in the model's order."""
    present = set(effects.factor)
    return [f.name for f in FACTORS if f.name in present and len(f.terms) == 1
            and f.name not in ("credited_bad_interactions_90d",)]


def effects_table(effects: pd.DataFrame) -> pd.DataFrame:
    """The mutually adjusted model's terms as fitted (unrounded: the page formats them, and a refit is compared
    with them exactly)."""
    columns = ["pillar", "term", "unit", "hazard_ratio", "ci_lower", "ci_upper", "p_value", "ph_p_value", "ph_violated"]
    return effects[[c for c in columns if c in effects.columns]].reset_index(drop=True)


def effects_download(effects: pd.DataFrame, own: pd.DataFrame, filters: tuple[str, ...],
                     refitted: bool) -> pd.DataFrame:
    """The drivers page's download: each factor's own model, the one to act on, then the mutually adjusted model
    shown, as `retention drivers --format csv` writes them, with a first column naming the accounts each was
    fitted on."""
    return effects_report(effects, own, fitted_on={OWN_MODEL: OWN_MODELS_FITTED_ON,
                                                   MUTUALLY_ADJUSTED: fitted_on(filters, refitted)})


def effects_download_json(download: pd.DataFrame, filters: tuple[str, ...], model: dict | None,
                          own_notes: list[str]) -> str:
    """The download as JSON, as `retention drivers --format json` writes it: the rows under the same headers, with
    the filters, the mutually adjusted model's information and the own models' notes."""
    return json.dumps(effects_report_json(download, filters=list(filters), model=model or {},
                                          factor_effects_notes=list(own_notes)), indent=2)


def fitted_on(filters: tuple[str, ...], refitted: bool) -> str:
    """The accounts the shown drivers model was fitted on, in one phrase."""
    if refitted:
        return "filtered accounts, refitted: " + ", ".join(filters)
    return "every account, at build time"


def ph_flags(effects: pd.DataFrame) -> str | None:
    if "ph_violated" not in effects.columns:
        return None
    flagged = effects[effects.ph_violated.astype(bool)]
    if flagged.empty:
        return None
    return ("Proportional hazards looks doubtful for " + ", ".join(flagged.term)
            + ": their hazard ratio is an average over tenure and may be stronger early or late.")


REFIT_LABEL = "Refit on the filtered accounts"


def fit_source_note(filters: tuple[str, ...], scope: tuple[str, ...], refitted: bool,
                    model: dict | None = None) -> str:
    """Which fit the mutually adjusted view shows, in words, for its caption ("" for every account, unfiltered).
    `filters` are the page's (the scope first, as every caption names them), `scope` the person's own."""
    if refitted:
        model = model or {}
        counted = (f" ({model['n_accounts']:,} accounts, {model['n_events']:,} churns)"
                   if model.get("n_accounts") is not None and model.get("n_events") is not None else "")
        sampled = ", a seeded sample of them" if model.get("sample") else ""
        how = ("a fit to convergence with a small penalty, since the unpenalised one did not converge"
               if model.get("penalizer") else "an exact fit to convergence, as the build fits every account")
        return (f"Refitted on the filtered accounts{counted}{sampled}: {how}, with its own intervals, reference "
                "levels and imputed medians.")
    if filters:
        return (f"{company_wide_note(filters, scope, 'this model')} Turn on \"{REFIT_LABEL}\" to fit it on them "
                "(seconds on a large build; kept for this selection). The quartile chart below is of the filtered "
                "accounts.")
    return ""


def company_wide_note(filters: tuple[str, ...], scope: tuple[str, ...], what: str) -> str:
    """That `what` was fitted on every account of the company, whatever the filters or the person's scope say ("" when
    nothing narrows the page): a csm must not read the company's figures as their book's."""
    if not filters and not scope:
        return ""
    narrowed = ("your scope does not" if set(filters) <= set(scope) else
                "the filters and your scope do not" if scope else "the filters do not")
    return f"Fitted at build time on every account of the company: {narrowed} apply to {what}."


def model_markdown(model: dict | None) -> str:
    if not model:
        return "No model information stored."
    lines = [
        f"- **Method:** {model.get('method', 'Cox proportional hazards')}",
        f"- **Data:** {model.get('n_accounts', 0):,} accounts, {model.get('n_account_months', 0):,} account-months, "
        f"{model.get('n_events', 0):,} churns",
        f"- **Concordance:** {model.get('concordance', float('nan')):.3f} (0.5 = chance, 1 = perfect ordering)",
    ]
    if model.get("penalizer"):
        lines.append(f"- **Penalizer:** {model['penalizer']} (the unpenalised fit did not converge)")
    for item in model.get("dropped_terms", []):
        lines.append(f"- **Dropped** {term_words(item['term'])}: {item['reason']}")
    imputed = model.get("imputed_terms", [])
    if imputed:
        lines.append("- **Imputed:** months with no eligible interactions get the median of the measure plus a "
                     "missing indicator: " + ", ".join(term_words(i["term"]) for i in imputed))
    for note in model.get("notes", []):
        lines.append(f"- **Note:** {note}")
    lines.append("- **Caveat:** hazard ratios are associations in observational data, adjusted for the other terms; "
                 "unmeasured differences between accounts can explain part of them.")
    return "\n".join(lines)


def methods_text() -> str:
    """The methods notes, the same file the README links to."""
    from pathlib import Path

    return (Path(__file__).parent / "methods.md").read_text(encoding="utf-8").split("\n", 1)[1]


def shared_adjustment(effects: pd.DataFrame) -> list[str]:
    """What every factor's own model is adjusted for (plan, case mix, ticket volume on the default build), in the
    order the first model lists it: said once above the table, so each row lists only the rest."""
    sets = [_listed(text) for text in effects.get("adjusted_for", pd.Series(dtype=str))]
    if not sets:
        return []
    return [name for name in sets[0] if all(name in other for other in sets[1:])]


def _listed(text: str | None) -> list[str]:
    return [name for name in (text or "").split(", ") if name]


def listing(names: list[str]) -> str:
    """Names in a sentence: "a", "a and b", "a, b and c"."""
    if len(names) < 2:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def factor_effects_table(effects: pd.DataFrame) -> pd.DataFrame:
    """Each factor's own model, one row per term, in words a support leader reads (label and unit, never a
    column name), what it was adjusted for besides the shared_adjustment, and its consequences left out."""
    if effects.empty:
        return effects
    shared = set(shared_adjustment(effects))
    table = pd.DataFrame({
        "factor": [term_label(f, t) for f, t in zip(effects["factor"], effects["term"])],
        "hazard ratio": effects["hazard_ratio"].round(2),
        "95% CI": [f"{lo:.2f} – {hi:.2f}" for lo, hi in zip(effects["ci_lower"], effects["ci_upper"])],
        "also adjusted for": [", ".join(n for n in _listed(text) if n not in shared) or "nothing else"
                              for text in effects["adjusted_for"]],
        "consequences, not adjusted for": effects["not_adjusted_for"],
        "E-value": effects["e_value"].round(2),
        "E-value (CI)": effects["e_value_ci"].round(2),
        "unit": effects["unit"],
    })
    return table.reset_index(drop=True)


def stability_table(stability: pd.DataFrame) -> pd.DataFrame:
    """The hazard ratio of each factor term (rows) at each step of its adjustment set (columns)."""
    if stability.empty:
        return stability
    frame = stability.assign(value=[f"{hr:.3f} ({lo:.3f} – {hi:.3f})" for hr, lo, hi in
                                    zip(stability.hazard_ratio, stability.ci_lower, stability.ci_upper)])
    frame["factor"] = [term_label(f, t) for f, t in zip(frame.factor, frame.term)]
    table = frame.pivot(index="factor", columns="step", values="value")
    steps = [s for s in ("unadjusted", "+ plan and segments", "+ case mix and volume", "+ upstream service factors")
             if s in table.columns]
    order = list(dict.fromkeys(frame.factor))
    return table.loc[order, steps].reset_index()


def with_labels(effects: pd.DataFrame) -> pd.DataFrame:
    """The effects with a `label` column a reader understands: the factor's name and its unit, never a column
    name ("first response time, per doubling of the median first response time")."""
    labels = []
    for row in effects.itertuples():
        level = level_of(row.term, row.factor, getattr(row, "level", None))
        labels.append(f"{factor_in_words(row.factor)}{f' {level}' if level else ''}, {row.unit}")
    return effects.assign(label=labels)


def revenue_effects_table(effects: pd.DataFrame) -> pd.DataFrame:
    """Each factor's adjusted effect on next month's expansion and contraction, one row per factor term, with the
    change in the monthly chance in percentage points per unit and its 95% interval."""
    if effects.empty:
        return effects
    rows: dict[str, dict] = {}
    for row in effects.itertuples():
        key = term_label(row.factor, row.term)
        entry = rows.setdefault(key, {"factor": key, "unit": row.unit})
        entry[f"{row.outcome}: change in monthly chance (pp)"] = (
            f"{row.effect_pp:+.2f} ({row.ci_lower_pp:+.2f} to {row.ci_upper_pp:+.2f})")
        entry[f"{row.outcome}: monthly chance today"] = f"{row.monthly_rate:.1%}"
    return pd.DataFrame(list(rows.values()))


def term_label(factor: str, term: str) -> str:
    """A factor's label with the level its term names: "bad interactions in the window (2+ vs 0)"."""
    return label(factor) + (f" ({term.split(': ', 1)[1]})" if ": " in term else "")


# --- each factor's own model, by churn cause ---------------------------------------------------------

CAUSE_HAZARD_RATIO_IN_WORDS = (
    "A hazard ratio of churn from one cause is cause-specific: among accounts still customers, how much faster "
    "they churn for that reason per unit of the factor (1.25: 25% more likely to leave for it in any month); "
    "an account that leaves for another reason is treated as leaving the data then, as one still a customer at "
    "the as-of date is. Each model is adjusted as the all-churn model above, so these are estimated effects if "
    "the listed confounders are the important ones, not proof.")


ALL_CHURN = ""  # the all-churn models' rows in a cause comparison


def cause_models_note(info: dict | None, has_reasons: bool) -> str | None:
    """Why the drivers page shows no model by churn cause, in a sentence; None when the build has some."""
    if not has_reasons:
        return NO_CHURN_REASONS
    info = info or {}
    if info.get("causes"):
        return None
    if info.get("error"):
        return f"Churn is not modelled by cause in this build: {info['error']}."
    counted = {cause: n for cause, n in (info.get("churned_accounts") or {}).items() if cause != UNKNOWN}
    if any(n >= MIN_CAUSE_CHURNS for n in counted.values()):
        return ("Churn is not modelled by cause in this build: "
                + "; ".join(info.get("notes") or ["no cause's models could be fitted"]) + ".")
    counts = listing([f"{n:,} {cause_short_label(cause)}" for cause, n in counted.items()])
    return (f"No churn cause has the {MIN_CAUSE_CHURNS} churned accounts a model of its own needs"
            + (f" ({counts} churned accounts)" if counts else "") + ", so churn is modelled as a whole only.")


def cause_counts_sentence(info: dict) -> str:
    """How many churns each cause's models rest on, and what happens to the rest."""
    churned = info.get("churned_accounts") or {}
    causes = list(info.get("causes") or [])
    modelled = listing([f"{churned.get(c, 0):,} {cause_short_label(c)}" for c in causes])
    rest = {c: n for c, n in churned.items() if c not in causes and n}
    sentence = f"The models of each cause rest on {modelled} churned accounts"
    if rest:
        sentence += ("; " + listing([f"{n:,} {_churns_of(c)}" for c, n in rest.items()])
                     + " are too few for a model of their own and count as leaving the data in these")
    return sentence + ". They were fitted at build time on every account of the company."


def _churns_of(cause: str) -> str:
    return "churns with no reason given" if cause == UNKNOWN else f"{cause_short_label(cause)} churns"


def cause_heading(cause: str) -> str:
    """"Voluntary churn", "All churn": a column's or a tab's name."""
    words = ALL_CHURN_WORDS.lower() if cause == ALL_CHURN else f"{cause_short_label(cause)} churn"
    return words[:1].upper() + words[1:]


def cause_effects_rows(effects: pd.DataFrame, cause: str) -> pd.DataFrame:
    """One cause's own-model rows of cause_factor_effects, with the `pillar` and reader's `label` the forest plot
    and factor_effects_table take."""
    rows = effects[effects.churn_cause == cause].drop(columns="churn_cause").reset_index(drop=True)
    return with_labels(rows.assign(pillar=[FACTORS_BY_NAME[f].pillar if f in FACTORS_BY_NAME else "control"
                                           for f in rows.factor]))


def cause_comparison_table(own: pd.DataFrame, by_cause: pd.DataFrame, causes: list[str]) -> pd.DataFrame:
    """One row per factor term: its own-model hazard ratio of all churn and of churn from each cause side by side,
    each with its 95% interval and E-value (of the ratio, and of the interval's nearer limit), and what it was
    adjusted for besides what every factor is."""
    frames = {ALL_CHURN: own, **{c: by_cause[by_cause.churn_cause == c] for c in causes}}
    terms = list(dict.fromkeys(t for frame in frames.values() for t in frame.term))
    # a term's words and adjustment set are those of its first model that has it (all churn, where it is fitted)
    first = {r.term: r for frame in reversed(list(frames.values())) for r in frame.itertuples()}
    shared = set(shared_adjustment(pd.concat(list(frames.values()), ignore_index=True)))
    rows = []
    for term in terms:
        row = {"factor": term_label(first[term].factor, term), "unit": first[term].unit}
        for cause, frame in frames.items():
            found = frame[frame.term == term]
            heading = cause_heading(cause)
            if found.empty:
                row[f"{heading}: hazard ratio (95% CI)"] = row[f"{heading}: E-value (for the CI)"] = "—"
                continue
            r = found.iloc[0]
            row[f"{heading}: hazard ratio (95% CI)"] = f"{r.hazard_ratio:.2f} ({r.ci_lower:.2f} – {r.ci_upper:.2f})"
            row[f"{heading}: E-value (for the CI)"] = f"{r.e_value:.2f} ({r.e_value_ci:.2f})"
        row["also adjusted for"] = ", ".join(n for n in _listed(first[term].adjusted_for) if n not in shared) \
            or "nothing else"
        rows.append(row)
    return pd.DataFrame(rows)


def _is_clear(row) -> bool:
    return bool(row.ci_lower > 1 or row.ci_upper < 1)


def cause_contrast_sentences(by_cause: pd.DataFrame, causes: list[str], limit: int = 4) -> list[str]:
    """The factors whose own-model interval excludes 1 for some cause, strongest first: for each, its link with
    churn from every cause in one sentence, with hazard ratios and 95% intervals ("Accounts whose median first
    response time doubled had more voluntary churn (hazard ratio 1.29, 95% interval 1.21–1.38) and no clear change
    in involuntary churn (1.02, 0.91–1.15): a link with the churn customers choose, not with failed payments.")."""
    modelled = by_cause[by_cause.churn_cause.isin(causes)]
    ranked = []
    for term, rows in modelled.groupby("term", sort=False):
        clear = [abs(math.log(r.hazard_ratio)) for r in rows.itertuples() if _is_clear(r)]
        if clear:
            ranked.append((max(clear), term, rows.set_index("churn_cause")))
    ranked.sort(key=lambda item: -item[0])
    sentences, said = [], False
    for _, term, rows in ranked[:limit]:
        sentence, contrast = _contrast_sentence(term, rows, [c for c in causes if c in rows.index], not said)
        sentences.append(sentence)
        said = said or contrast
    return sentences or ["No service factor has a clear link with churn from any one cause in these data: every "
                         "95% interval includes 1 (no association)."]


def _contrast_sentence(term: str, rows: pd.DataFrame, causes: list[str], say_contrast: bool) -> tuple[str, bool]:
    """The sentence, and whether it names the contrast of a clear voluntary link with no clear involuntary one
    (said once, on the first such factor: repeated on each it would read as boilerplate)."""
    known = TERMS_BY_NAME.get(term)
    first = rows.iloc[0]
    subject = known.phrase if known is not None and known.phrase else f"{label(first.factor)} ({first.unit})"
    subject = subject[:1].upper() + subject[1:]
    verb = "had" if subject.startswith("Accounts") else "went with"
    parts = []
    for i, cause in enumerate(causes):
        r = rows.loc[cause]
        numbers = (f"hazard ratio {r.hazard_ratio:.2f}, 95% interval {r.ci_lower:.2f}–{r.ci_upper:.2f}" if i == 0
                   else f"{r.hazard_ratio:.2f}, {r.ci_lower:.2f}–{r.ci_upper:.2f}")
        how = ("more" if r.hazard_ratio > 1 else "less") if _is_clear(r) else "no clear change in"
        parts.append(f"{how} {cause_short_label(cause)} churn ({numbers})")
    sentence = f"{subject} {verb} {listing(parts)}"
    contrast = ({"voluntary", "involuntary"} <= set(causes) and _is_clear(rows.loc["voluntary"])
                and not _is_clear(rows.loc["involuntary"]))
    if contrast and say_contrast:
        sentence += ": a link with the churn customers choose, not with failed payments"
    return sentence + ".", contrast
