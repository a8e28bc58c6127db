"""The investment case: scenario controls, ROI and payback, and the forwardable summary (pure functions)."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import NotRequired, TypedDict

import numpy as np
import pandas as pd

from dashboard.charts import money
from dashboard.labels import cause_label, cause_short_label, cause_sort_key, filters_in_words
from pipelines.churn_reasons import UNKNOWN
from pipelines.models.calibration import calibration_sentence
from pipelines.models.factors import CHANGEABLE, FACTORS_BY_NAME, title
from pipelines.models.whatif import parse_change


class SliderSpec(TypedDict):
    """The slider of one factor's change: its range, default and step, its unit and display format."""
    min: float
    max: float
    default: float
    step: float
    unit: str
    format: str
    help: str
    kind: type[int] | type[float]  # the slider's value type
    read: NotRequired[Callable[[str], float]]  # a shared link's text -> a value within the range


def slider_spec(factor: str) -> SliderSpec:
    """Range, default (the factor's lever, as the overview shows it), unit and display format of the slider for
    one factor's change."""
    kind, lever_text = FACTORS_BY_NAME[factor].change, FACTORS_BY_NAME[factor].lever
    if lever_text is None:  # every changeable factor names its lever (factors.py)
        raise ValueError(f"{factor} has no lever to start the slider from")
    lever = parse_change(factor, lever_text)
    spec: SliderSpec
    if kind == "duration":
        spec = {"min": -90, "max": 100, "default": round((lever.amount - 1.0) * 100), "step": 5, "unit": "%",
                "format": "%d%%", "help": "relative change of the time", "kind": int}
    elif kind == "rate":
        spec = {"min": -30, "max": 30, "default": round(lever.amount * 100), "step": 1, "unit": "pp",
                "format": "%+d points", "help": "percentage points", "kind": int}
    else:
        spec = {"min": -2.0, "max": 2.0, "default": lever.amount, "step": 0.1, "unit": "", "format": "%+.1f points",
                "help": "points on the 1-5 scale", "kind": float}
    # a value from a shared link: a number within the slider's range, else a ValueError (the default stands)
    spec["read"] = lambda text: min(max(spec["kind"](float(text)), spec["min"]), spec["max"])
    return spec


def change_text(factor: str, value: float) -> str:
    unit = slider_spec(factor)["unit"]
    return f"{value:+g}{unit}"


def factors() -> list[str]:
    return list(CHANGEABLE)


# The page's choices and how each travels in the URL (a shared link): read from the URL's texts (a ValueError for
# one that cannot be used: the default stands) and written back.
DEFAULT_FACTORS = ["first_response_hours"]
HORIZONS = [90, 180, 365, 730]
DEFAULT_HORIZON = 365


def read_factors(texts: list[str]) -> list[str]:
    return [t for t in texts if t in CHANGEABLE]


def read_horizon(texts: list[str]) -> int:
    return HORIZONS[HORIZONS.index(int(texts[0]))]


def read_cost(texts: list[str]) -> float:
    return max(float(texts[0]), 0.0)


def read_change(factor: str):
    """The reader of one factor's slider value: a number within the slider's range."""
    spec = slider_spec(factor)
    return lambda texts: spec["read"](texts[0])


def as_url(value) -> list[str]:
    """A choice as the URL's texts: a list as it is, a whole-dollar cost without decimals, a number as written."""
    if isinstance(value, list):
        return value
    return [f"{value:.0f}" if isinstance(value, float) and value.is_integer() else str(value)]


def roi(result: dict, yearly_cost: float | None) -> dict:
    """Return on the cost over the horizon, and payback, from the revenue the change keeps month by month.

    Cost over the horizon = yearly cost × horizon days / 365. ROI = (revenue kept over the horizon − that cost) /
    that cost. Payback = the month where the revenue kept so far first reaches the cost so far (yearly cost ×
    days / 365), interpolated within the month; None when it does not within the horizon. The intervals are
    those of the revenue kept (its lower end gives the lower ROI and the later payback). No cost, no ROI."""
    revenue = result["revenue_kept"]
    horizon = result["horizon_days"]
    cost = yearly_cost if yearly_cost and yearly_cost > 0 else None
    out = {"yearly_cost": cost, "horizon_cost": None if cost is None else cost * horizon / 365.0,
           "revenue_kept": revenue}
    days = np.array([0.0] + [m["days"] for m in revenue["by_month"]])
    so_far = np.array([0.0] + [m["revenue_kept"] for m in revenue["by_month"]])
    for key in ("estimate", "ci_lower", "ci_upper"):
        if cost is None:
            out[f"roi_{key}"] = out[f"payback_months_{key}"] = None
            continue
        scale = revenue[key] / revenue["estimate"] if revenue["estimate"] else 0.0
        out[f"roi_{key}"] = (revenue[key] - out["horizon_cost"]) / out["horizon_cost"]
        out[f"payback_months_{key}"] = _payback_months(days, scale * so_far, cost)
    return out


def _payback_months(days: np.ndarray, revenue_so_far: np.ndarray, yearly_cost: float) -> float | None:
    """The first time the revenue kept so far reaches the cost so far, in months; None within the horizon."""
    ahead = revenue_so_far - yearly_cost * days / 365.0
    reached = np.flatnonzero(ahead[1:] >= 0)
    if reached.size == 0:
        return None
    j = reached[0] + 1
    # linear between the month ends: where the gap crosses zero
    day = days[j - 1] + (days[j] - days[j - 1]) * (-ahead[j - 1]) / (ahead[j] - ahead[j - 1])
    return float(day / (365.25 / 12))


def tiles(result: dict, economics: dict) -> list[dict]:
    """The page's headline numbers, each with its 95% interval in words: {"label", "value", "interval"}."""
    accounts, arr, revenue = result["accounts_kept"], result["arr_kept"], result["revenue_kept"]
    horizon = result["horizon_days"]
    out = [
        {"label": kept_label(accounts["estimate"], "Accounts"), "value": f"{abs(accounts['estimate']):,.1f}",
         "interval": f"95% interval {accounts['ci_lower']:,.1f} to {accounts['ci_upper']:,.1f} kept"},
        {"label": kept_label(arr["estimate"], "ARR"), "value": money(abs(arr["estimate"])),
         "interval": f"95% interval {money(arr['ci_lower'])} to {money(arr['ci_upper'])} kept: a year's revenue "
                     "of the accounts kept"},
        {"label": f"Revenue {'lost' if revenue['estimate'] < 0 else 'kept'} in {horizon} days",
         "value": money(abs(revenue["estimate"])),
         "interval": f"95% interval {money(revenue['ci_lower'])} to {money(revenue['ci_upper'])}: what they pay "
                     "within the horizon"},
    ]
    if economics["yearly_cost"] is None:
        out += [{"label": "ROI", "value": "—", "interval": "enter the yearly cost of the change"},
                {"label": "Payback", "value": "—", "interval": "enter the yearly cost of the change"}]
        return out
    out += [
        {"label": f"ROI over {horizon} days", "value": f"{economics['roi_estimate']:.0%}",
         "interval": f"95% interval {economics['roi_ci_lower']:.0%} to {economics['roi_ci_upper']:.0%}, against "
                     f"{money(economics['horizon_cost'])} of cost"},
        {"label": "Payback", "value": payback_text(economics["payback_months_estimate"]),
         "interval": "95% interval " + _payback_range(economics)},
    ]
    return out


def _payback_range(economics: dict) -> str:
    early, late = economics["payback_months_ci_upper"], economics["payback_months_ci_lower"]
    if early is None:
        return "not within the horizon at either end"
    return f"{early:.1f} months to {payback_text(late)}"


def kept_label(estimate: float, what: str) -> str:
    """ "Accounts kept", or "Accounts lost" when the change makes service worse."""
    return f"{what} {'lost' if estimate < 0 else 'kept'}"


def payback_text(months) -> str:
    return "not within the horizon" if months is None else f"{months:.1f} months"


def summary_markdown(result: dict, economics: dict, changes: list[tuple[str, str]], as_of, filters,
                     evidence: Sequence[str] = (), by_cause: dict | None = None) -> str:
    """The case as Markdown to forward; with `by_cause` (cached_cause_whatif's result) its split by churn cause."""
    accounts, arr, revenue = result["accounts_kept"], result["arr_kept"], result["revenue_kept"]
    scope = ", ".join(filters_in_words(filters)) if filters else "all active accounts"
    lines = [
        "# Support investment case",
        f"As of {as_of}; {result['accounts']:,} active accounts ({scope}); horizon {result['horizon_days']} days.",
        "",
        "**Change:** " + "; ".join(f"{title(f)} {c}" for f, c in changes),
        "",
        f"- {kept_label(accounts['estimate'], 'Accounts')}: **{abs(accounts['estimate']):,.1f}** (95% interval "
        f"{accounts['ci_lower']:,.1f} to {accounts['ci_upper']:,.1f} kept)",
        f"- {kept_label(arr['estimate'], 'ARR')}: **{money(abs(arr['estimate']))}** (95% interval "
        f"{money(arr['ci_lower'])} to {money(arr['ci_upper'])} kept)",
        f"- Revenue kept over the {result['horizon_days']} days: **{money(revenue['estimate'])}** (95% interval "
        f"{money(revenue['ci_lower'])} to {money(revenue['ci_upper'])})",
        f"- Expected churned accounts: {result['baseline']['expected_churned_accounts']:,.1f} today vs "
        f"{result['scenario']['expected_churned_accounts']:,.1f} with the change",
    ]
    if economics["yearly_cost"] is not None:
        roi_text = "—" if economics["roi_estimate"] is None else f"{economics['roi_estimate']:.0%}"
        lines += [
            f"- Yearly cost of the change: {money(economics['yearly_cost'])} "
            f"({money(economics['horizon_cost'])} over the {result['horizon_days']} days)",
            f"- Return on investment over the horizon: **{roi_text}** "
            f"(95% interval {economics['roi_ci_lower']:.0%} to {economics['roi_ci_upper']:.0%})",
            f"- Payback: **{payback_text(economics['payback_months_estimate'])}**",
        ]
    if by_cause is not None:
        lines += cause_summary_lines(result, by_cause)
    if evidence:
        lines += ["", "## What the estimate rests on", *[f"- {line}" for line in evidence]]
    lines += ["", "## Caveats", *[f"- {n}" for n in result.get("notes", [])]]
    return "\n".join(lines)


def _markdown_to_html(markdown_text: str) -> list[str]:
    body = []
    for line in markdown_text.splitlines():
        text = html.escape(line)
        while "**" in text:
            text = text.replace("**", "<strong>", 1).replace("**", "</strong>", 1)
        if line.startswith("# "):
            continue  # the report's own title
        if line.startswith("## "):
            body.append(f"<h2>{text[3:]}</h2>")
        elif line.startswith("- "):
            body.append(f"<li>{text[2:]}</li>")
        elif line:
            body.append(f"<p>{text}</p>")
    return body


def summary_html(markdown_text: str, figures=()) -> str:
    """The same summary as a standalone HTML page, figures embedded with plotly.js inline (no CDN)."""
    from dashboard.report import standalone_html

    return standalone_html("Support investment case", "A what-if from the retention model",
                           ["\n".join(_markdown_to_html(markdown_text))], list(figures))


def summary_table(result: dict, economics: dict, by_cause: dict | None = None) -> list[dict]:
    """The numbers of the case as rows, for the CSV download; with `by_cause`, what each churn cause keeps and the
    total with the causes competing."""
    rows = []
    for quantity in ("accounts_kept", "arr_kept"):
        r = result[quantity]
        rows.append({"quantity": quantity, "estimate": r["estimate"], "ci_lower": r["ci_lower"], "ci_upper": r["ci_upper"]})
    for side in ("baseline", "scenario"):
        for key, value in result[side].items():
            rows.append({"quantity": f"{side}_{key}", "estimate": value, "ci_lower": None, "ci_upper": None})
    if economics["yearly_cost"] is not None:
        rows.append({"quantity": "revenue_kept_over_horizon", "estimate": result["revenue_kept"]["estimate"],
                     "ci_lower": result["revenue_kept"]["ci_lower"], "ci_upper": result["revenue_kept"]["ci_upper"]})
        rows.append({"quantity": "roi", "estimate": economics["roi_estimate"], "ci_lower": economics["roi_ci_lower"],
                     "ci_upper": economics["roi_ci_upper"]})
        rows.append({"quantity": "payback_months", "estimate": economics["payback_months_estimate"],
                     "ci_lower": economics["payback_months_ci_upper"], "ci_upper": economics["payback_months_ci_lower"]})
    if by_cause is not None:
        for row in by_cause["by_cause"]:
            for quantity in ("accounts_kept", "arr_kept"):
                r = row[quantity]
                rows.append({"quantity": f"{quantity}_through_{row['cause']}_churn", "estimate": r["estimate"],
                             "ci_lower": r["ci_lower"], "ci_upper": r["ci_upper"]})
        for quantity in ("accounts_kept", "arr_kept"):
            r = by_cause[quantity]
            rows.append({"quantity": f"{quantity}_all_causes_competing", "estimate": r["estimate"],
                         "ci_lower": r["ci_lower"], "ci_upper": r["ci_upper"]})
    return rows


def calibration_check(result: dict) -> dict:
    """The what-if model's check on a time split, in words, and whether it missed (then the page warns before any
    money figure): {"text", "missed"}."""
    row = result.get("calibration")
    if row is None:
        if len(result["changes"]) > 1:
            text = ("Calibration: not checked for a change of several factors at once (their joint model is fitted "
                    "when asked); each factor's own case shows its check.")
        else:
            text = "Calibration: this build stores no check of the model (too little history)."
        return {"text": text, "missed": False}
    horizon = int(row["horizon_days"])
    scope = "every account of the build" if result.get("filtered") else "every account"
    text = (f"Calibration check of the model behind these figures ({horizon}-day horizon, {scope}): "
            f"{calibration_sentence(row)}")
    if not row["within_range"]:
        text += " Treat the accounts and ARR kept below with that in mind."
    return {"text": text, "missed": not bool(row["within_range"])}


def tail_line(result: dict) -> str | None:
    """How much the accounts kept rest on the hazard past the longest tenure observed, when any account's horizon
    reaches there."""
    extended = result.get("accounts_past_observed_tenure", 0)
    if not extended or not result.get("tail_sensitivity"):
        return None
    low, high = result["tail_sensitivity"]
    return (f"{extended:,} of the {result['accounts']:,} accounts are older at the horizon's end than any customer "
            f"the data has seen, so for them the model assumes the churn rate of its last observed year goes on. "
            f"Were that rate half as high, the change would keep {low['accounts_kept']:,.1f} accounts and "
            f"{money(low['arr_kept'])} ARR; twice as high, {high['accounts_kept']:,.1f} and {money(high['arr_kept'])}.")


def _own_effect(factor_effects: pd.DataFrame, factor: str):
    """The factor's own model's row of the build's factor effects (None when it has none)."""
    rows = factor_effects[factor_effects.factor == factor] if not factor_effects.empty else factor_effects
    return None if rows.empty else rows.iloc[0]


def evidence_lines(result: dict, factor_effects: pd.DataFrame) -> list[str]:
    """What the estimate rests on, per changed factor: the adjustment set, the consequences included in the
    effect, the factor's own hazard ratio with its interval and E-value, and any overlap warning."""
    lines = []
    for change in result["changes"]:
        factor = change["factor"]
        name = title(factor)
        row = _own_effect(factor_effects, factor)
        if row is not None:
            lines.append(
                f"{name}: estimated effect if the listed confounders are the important ones. Adjusted for "
                f"{row.adjusted_for}; its consequences ({row.not_adjusted_for}) are part of the effect, not held "
                f"fixed. Hazard ratio {row.hazard_ratio:.2f} {row.unit} (95% CI {row.ci_lower:.2f} to "
                f"{row.ci_upper:.2f}). E-value {row.e_value:.2f} (interval {row.e_value_ci:.2f}): an unmeasured "
                f"confounder would need a risk ratio of {row.e_value:.2f} with both {name.lower()} and churn to "
                "explain the effect away.")
    for item in result.get("overlap", []):
        if item["warn"]:
            lines.append(f"Overlap: for {item['share_outside']:.0%} of the accounts, the changed "
                         f"{title(item['factor']).lower()} lies outside what accounts of similar "
                         "case mix show; there the estimate extrapolates beyond the data.")
    return lines


def overlap_table(result: dict) -> pd.DataFrame:
    """Per changed factor: how many of the accounts it applies to end up outside what similar case mix shows."""
    return pd.DataFrame([{"factor": title(o["factor"]), "accounts the change applies to": o["accounts"],
                          "outside the range of similar case mix": o["outside"],
                          "share outside": f"{o['share_outside']:.1%}"} for o in result.get("overlap", [])])


# --- by churn cause ------------------------------------------------------------------------------

ALL_CAUSES_WORDS = "In all (the causes compete)"
NO_CAUSE_MODELS = ("Churn is not modelled by cause in this build (no cause has enough churned accounts for a model "
                   "of its own), so the case is not split by cause.")
# what a cause is, beside its interval, where a reader may expect support to move it
CAUSE_ASIDES = {"involuntary": "failed payments, which support cannot prevent"}


def cause_churn_words(cause: str) -> str:
    """A cause's churn in running text: "voluntary churn", "churn with no reason given", "churn counted as
    downgrade to free"."""
    if cause in ("voluntary", "involuntary"):
        return f"{cause} churn"
    if cause == UNKNOWN:
        return "churn with no reason given"
    return f"churn counted as {cause_short_label(cause)}"


def _causes_in_order(cause_result: dict) -> list[dict]:
    return sorted(cause_result["by_cause"], key=lambda row: cause_sort_key(row["cause"]))


def _count(value: float, digits: int) -> str:
    # a true minus sign: a hyphen before a number reads as a dash in a sentence
    text = f"{abs(value):,.{digits}f}"
    return f"−{text}" if value < 0 and text.strip("0.,") else text


def _digits(*values: float) -> int:
    """Whole accounts once the numbers reach ten; below that, one decimal, so a small interval does not read as
    "0 to 0"."""
    return 0 if max(abs(v) for v in values) >= 10 else 1


def _accounts_phrase(estimate: float, low: float, high: float) -> str:
    """ "about 48 accounts (39 to 57)", in whole or tenth accounts as the size asks."""
    digits = _digits(estimate, low, high)
    noun = "account" if _count(estimate, digits) in ("1", "1.0") else "accounts"
    return f"about {_count(estimate, digits)} {noun} ({_count(low, digits)} to {_count(high, digits)})"


def _interval_phrase(low: float, high: float) -> str:
    digits = _digits(low, high)
    return f"{_count(low, digits)} to {_count(high, digits)} accounts kept"


def _either(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def cause_sentence(cause_result: dict) -> str:
    """The split of the case by cause in one sentence, from the numbers: the causes whose interval of accounts kept
    lies above zero (or below it) and how many accounts they keep (or lose), the causes whose interval covers zero
    as not moved, and the total with the causes competing. A cause support is not expected to move (involuntary
    churn) whose interval excludes zero is said as what it is: an association in the data, which the total
    includes."""
    moved, unmoved, associated = [], [], []
    for row in _causes_in_order(cause_result):
        cause, kept = row["cause"], row["accounts_kept"]
        estimate, low, high = kept["estimate"], kept["ci_lower"], kept["ci_upper"]
        churn = cause_churn_words(cause)
        if (low > 0 or high < 0) and cause in CAUSE_ASIDES:
            phrase = (f"{_accounts_phrase(estimate, low, high)} kept" if low > 0 else
                      f"{_accounts_phrase(-estimate, -high, -low)} more lost")
            associated.append(f"the model of {churn} links the change with {phrase}, an association in the data "
                              f"rather than an effect ({CAUSE_ASIDES[cause]})")
        elif low > 0:
            moved.append(f"keeps {_accounts_phrase(estimate, low, high)} by lowering {churn}")
        elif high < 0:
            moved.append(f"loses {_accounts_phrase(-estimate, -high, -low)} by raising {churn}")
        else:
            aside = f" — {CAUSE_ASIDES[cause]}" if cause in CAUSE_ASIDES else ""
            unmoved.append(f"{churn} ({_interval_phrase(low, high)}{aside})")
    clauses = []
    if moved:
        clauses.append("the change " + " and ".join(moved))
    if unmoved:
        clause = f"{'it' if moved else 'the change'} does not measurably move {_either(unmoved)}"
        if moved and not associated:
            clause += ", so the case credits support only with the churn it moves"
        clauses.append(clause)
    clauses += associated
    total = cause_result["accounts_kept"]
    if total["ci_upper"] < 0:  # a change for the worse: say how many it loses, as positive numbers
        in_all = "loses " + _accounts_phrase(-total["estimate"], -total["ci_upper"], -total["ci_lower"])
    else:
        in_all = "keeps " + _accounts_phrase(total["estimate"], total["ci_lower"], total["ci_upper"])
    if associated:  # the subject of the clause before is a model: name the change again
        in_all = f"the change {in_all}, {'that association' if len(associated) == 1 else 'those associations'} included"
    else:
        in_all = f"it {in_all}"
    clauses.append(f"in all, the causes competing, {in_all}")
    return "By cause (95% intervals in brackets): " + "; ".join(clauses) + "."


def cause_headline_line(result: dict, cause_result: dict) -> str:
    """Why the headline (one model of all churn) and the total by cause differ, with both numbers."""
    headline, total = result["accounts_kept"], cause_result["accounts_kept"]
    return (f"The headline above, {_accounts_phrase(headline['estimate'], headline['ci_lower'], headline['ci_upper'])}"
            " kept, puts all churn in one model, which applies the change's link with churn to every cause alike; "
            f"the total by cause, {_accounts_phrase(total['estimate'], total['ci_lower'], total['ci_upper'])}, moves "
            "each cause only as far as that cause's own model finds, so the two differ where the causes respond "
            "differently.")


def _kept_text(kept: dict, fmt: Callable[[float], str]) -> str:
    return f"{fmt(kept['estimate'])} ({fmt(kept['ci_lower'])} to {fmt(kept['ci_upper'])})"


def _one_decimal(value: float) -> str:
    return f"{value:,.1f}"


def cause_table(cause_result: dict) -> pd.DataFrame:
    """One row per churn cause, then one for all of them competing: expected churned accounts over the horizon
    today and with the change, and the accounts and ARR the change keeps, each with its 95% interval."""
    rows = [{"Cause": cause_label(row["cause"]),
             "Expected churned accounts today": _one_decimal(row["expected_churned_today"]),
             "Expected churned accounts with the change": _one_decimal(row["expected_churned_with_change"]),
             "Accounts kept (95% interval)": _kept_text(row["accounts_kept"], _one_decimal),
             "ARR kept (95% interval)": _kept_text(row["arr_kept"], money)}
            for row in _causes_in_order(cause_result)]
    rows.append({"Cause": ALL_CAUSES_WORDS,
                 "Expected churned accounts today": _one_decimal(cause_result["baseline"]["expected_churned_accounts"]),
                 "Expected churned accounts with the change":
                     _one_decimal(cause_result["scenario"]["expected_churned_accounts"]),
                 "Accounts kept (95% interval)": _kept_text(cause_result["accounts_kept"], _one_decimal),
                 "ARR kept (95% interval)": _kept_text(cause_result["arr_kept"], money)})
    return pd.DataFrame(rows)


def cause_table_caption(cause_result: dict) -> str:
    """What the table's numbers count, and over what."""
    return (f"Over the next {cause_result['horizon_days']} days, for the {cause_result['accounts']:,} active accounts "
            "selected. Expected churned accounts: the sum of each account's chance of churning from that cause, the "
            "causes competing; a cause the change does not move can rise a little with it, as the accounts kept stay at "
            "risk of that cause. ARR kept: a year's revenue of the accounts kept. Each cause's model comes from every "
            "account of the build, whatever the filters.")


def cause_notes(result: dict, cause_result: dict) -> list[str]:
    """How the split by cause is made and what it leaves out: its notes the headline's do not already give."""
    return [note for note in cause_result["notes"] if note not in result["notes"]]


def cause_summary_lines(result: dict, cause_result: dict) -> list[str]:
    """The split by cause for the Markdown summary: the sentence, the difference from the headline, and one bullet
    per row of the table."""
    lines = ["", "## By churn cause", cause_sentence(cause_result), "", cause_headline_line(result, cause_result), ""]
    for row in cause_table(cause_result).to_dict("records"):
        lines.append(f"- {row['Cause']}: expected churned accounts {row['Expected churned accounts today']} today, "
                     f"{row['Expected churned accounts with the change']} with the change; accounts kept "
                     f"{row['Accounts kept (95% interval)']}; ARR kept {row['ARR kept (95% interval)']} "
                     "(95% intervals)")
    return lines


FORECAST_CHANGE_CAVEAT = (
    "The change is the what-if's above, as if it began today for every account, new ones too: each simulated "
    "future scales every monthly churn rate by the what-if's ratio (with its uncertainty), so both lines share the "
    "same churn rates, swing and new business, and the gap between them is the change's. Like the what-if, it rests "
    "on observational data: an association, not proof of cause.")


def forecast_change_sentence(with_change: pd.DataFrame, difference: pd.DataFrame) -> str | None:
    """Where the forecast ends with the change, and what the change adds, in one sentence with 80% intervals."""
    if with_change.empty or difference.empty:
        return None
    last_month = with_change.month_number.max()
    after = with_change[with_change.month_number == last_month].set_index("measure")
    gained = difference[difference.month_number == last_month].set_index("measure")
    accounts, kept = after.loc["active_accounts"], gained.loc["accounts_kept"]
    end = pd.Timestamp(accounts.month_end)
    sentence = (f"With the change, by {end.day} {end:%b %Y}: {accounts.estimate:,.0f} active accounts "
                f"({accounts.lower_80:,.0f}–{accounts.upper_80:,.0f})")
    if "mrr" in after.index:
        sentence += (f" and {money(after.loc['mrr'].estimate)} MRR ({money(after.loc['mrr'].lower_80)}–"
                     f"{money(after.loc['mrr'].upper_80)})")
    sentence += (f": about {kept.estimate:,.0f} more accounts ({kept.lower_80:,.0f} to {kept.upper_80:,.0f})")
    if "mrr_kept" in gained.index:
        revenue = gained.loc["mrr_kept"]
        sentence += (f" and {money(revenue.estimate)} more MRR ({money(revenue.lower_80)} to "
                     f"{money(revenue.upper_80)})")
    return sentence + " than without it (80% intervals)."


# --- the one-page brief: the same case in a few plain lines ---------------------------------------------------


def changes_in_words(changes: Sequence[tuple[str, str]]) -> str:
    """ "First response time −50%, SLA breach rate −5pp and CSAT +0.5 points": the changes as a heading says them."""
    parts = []
    for factor, change in changes:
        # a change on the 1-5 scale is written bare ("+0.5"): say its unit
        text = change if change.endswith(("%", "pp")) else f"{change} points"
        parts.append(f"{title(factor)} {text.replace('-', '−')}")
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def headline_sentence(result: dict, changes: Sequence[tuple[str, str]]) -> str:
    """The case in one sentence with its 95% intervals, and the condition it holds under."""
    accounts, arr = result["accounts_kept"], result["arr_kept"]
    verb = "lose" if accounts["estimate"] < 0 else "keep"
    sign = -1.0 if accounts["estimate"] < 0 else 1.0
    low, high = sorted((sign * accounts["ci_lower"], sign * accounts["ci_upper"]))
    arr_low, arr_high = sorted((sign * arr["ci_lower"], sign * arr["ci_upper"]))
    horizon = "the next year" if result["horizon_days"] == 365 else f"the next {result['horizon_days']} days"
    return (f"{changes_in_words(changes)} for the {result['accounts']:,} active accounts would {verb} "
            f"{_accounts_phrase(sign * accounts['estimate'], low, high)} and {money(sign * arr['estimate'])} of ARR "
            f"({money(arr_low)} to {money(arr_high)}) over {horizon} (95% intervals), if the confounders listed "
            "below are the ones that matter: an estimate from observational data, not proof of cause.")


def in_sentence(name: str) -> str:
    """A heading's words inside a sentence: "first response time", but "CSAT" stays as it is."""
    return name if name[:2].isupper() else name[:1].lower() + name[1:]


def adjustment_lines(result: dict, factor_effects: pd.DataFrame) -> list[str]:
    """Per changed factor, what its effect was adjusted for and which of its consequences it includes."""
    lines = []
    for change in result["changes"]:
        row = _own_effect(factor_effects, change["factor"])
        if row is not None:
            lines.append(f"{title(change['factor'])}: adjusted for {row.adjusted_for}; not adjusted for its own "
                         f"consequences ({row.not_adjusted_for}), which are part of the effect.")
    return lines


def confounder_lines(result: dict, factor_effects: pd.DataFrame) -> list[str]:
    """Per changed factor, how strong a hidden confounder would have to be to explain its effect away, in words."""
    lines = []
    for change in result["changes"]:
        row = _own_effect(factor_effects, change["factor"])
        if row is None:
            continue
        name = in_sentence(title(change["factor"]))
        if row.e_value_ci <= 1.0:
            tail = "its interval already includes no effect, so no hidden factor is needed to make it uncertain"
        else:
            tail = (f"one {row.e_value_ci:.2f} times as likely would be enough to leave room for no effect at the "
                    "interval's edge")
        lines.append(f"A hidden factor would explain the effect of {name} away only if it made both a worse "
                     f"{name} and churn {row.e_value:.2f} times as likely, beyond what the estimate is adjusted for; "
                     f"{tail}.")
    return lines


def overlap_line(result: dict) -> str:
    """The changed factors' overlap with the data in one line."""
    items = result.get("overlap", [])
    if not items:
        return "Overlap: not checked for this change."
    worst = max(items, key=lambda item: item["share_outside"])
    verdict = "beyond what the data show, so treat it with care" if worst["warn"] else "within what the data show"
    return (f"Overlap: for {worst['share_outside']:.0%} of the accounts, the changed "
            f"{in_sentence(title(worst['factor']))} lies outside what accounts of similar case mix show; the estimate "
            f"stays {verdict}.")


def stability_line(result: dict, stability: pd.DataFrame) -> str:
    """How each changed factor's hazard ratio moves as its adjustment set grows, in one line."""
    parts = []
    for change in result["changes"]:
        factor = change["factor"]
        rows = stability[(stability.factor == factor) & (stability.term == factor)] if not stability.empty else stability
        if rows.empty:
            continue
        first, last = rows.iloc[0], rows.iloc[-1]
        parts.append(f"{in_sentence(title(factor))}'s hazard ratio is {first.hazard_ratio:.2f} unadjusted and "
                     f"{last.hazard_ratio:.2f} ({last.ci_lower:.2f} to {last.ci_upper:.2f}) with every confounder")
    if not parts:
        return "Stability: no stepwise fits stored for these factors."
    return "Stability: " + "; ".join(parts) + "."
