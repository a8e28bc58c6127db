"""The investment case: scenario controls, ROI and payback, and the forwardable summary (pure functions)."""

from __future__ import annotations

import html

import pandas as pd

from dashboard.charts import money
from pipelines.models.calibration import calibration_sentence
from pipelines.models.factors import CHANGEABLE, FACTORS_BY_NAME, title


def slider_spec(factor: str) -> dict:
    """Range, default and unit of the slider for one factor's change."""
    if FACTORS_BY_NAME[factor].change == "duration":
        return {"min": -90, "max": 100, "default": -50, "step": 5, "unit": "%", "help": "relative change of the time"}
    if FACTORS_BY_NAME[factor].change == "rate":
        default = 10 if factor == "agent_update_rate" else -5
        return {"min": -30, "max": 30, "default": default, "step": 1, "unit": "pp", "help": "percentage points"}
    return {"min": -2.0, "max": 2.0, "default": 0.5, "step": 0.1, "unit": "", "help": "points on the 1-5 scale"}


def change_text(factor: str, value: float) -> str:
    unit = slider_spec(factor)["unit"]
    return f"{value:+g}{unit}"


def factors() -> list[str]:
    return list(CHANGEABLE)


def roi(result: dict, yearly_cost: float) -> dict:
    """ROI and payback from ARR kept a year, with the interval carried through from ARR kept."""
    arr = result["arr_kept"]
    out = {"yearly_cost": yearly_cost}
    for key in ("estimate", "ci_lower", "ci_upper"):
        kept = arr[key]
        out[f"roi_{key}"] = (kept - yearly_cost) / yearly_cost if yearly_cost > 0 else None
        out[f"payback_months_{key}"] = (12 * yearly_cost / kept) if kept > 0 and yearly_cost > 0 else None
    return out


def _payback(months) -> str:
    return "never (no ARR kept)" if months is None else f"{months:.1f} months"


def summary_markdown(result: dict, economics: dict, changes: list[tuple[str, str]], as_of, filters,
                     evidence: list[str] = ()) -> str:
    accounts, arr = result["accounts_kept"], result["arr_kept"]
    scope = ", ".join(filters) if filters else "all active accounts"
    lines = [
        "# Support investment case",
        f"As of {as_of}; {result['accounts']:,} active accounts ({scope}); horizon {result['horizon_days']} days.",
        "",
        "**Change:** " + "; ".join(f"{title(f)} {c}" for f, c in changes),
        "",
        f"- Accounts kept: **{accounts['estimate']:,.1f}** (95% interval {accounts['ci_lower']:,.1f} to {accounts['ci_upper']:,.1f})",
        f"- ARR kept: **{money(arr['estimate'])}** (95% interval {money(arr['ci_lower'])} to {money(arr['ci_upper'])})",
        f"- Expected churned accounts: {result['baseline']['expected_churned_accounts']:,.1f} today vs "
        f"{result['scenario']['expected_churned_accounts']:,.1f} with the change",
    ]
    if economics["yearly_cost"] > 0:
        roi_text = "—" if economics["roi_estimate"] is None else f"{economics['roi_estimate']:.0%}"
        lines += [
            f"- Yearly cost of the change: {money(economics['yearly_cost'])}",
            f"- Return on investment: **{roi_text}** "
            f"(95% interval {economics['roi_ci_lower']:.0%} to {economics['roi_ci_upper']:.0%})",
            f"- Payback: **{_payback(economics['payback_months_estimate'])}**",
        ]
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


def summary_table(result: dict, economics: dict) -> list[dict]:
    """The numbers of the case as rows, for the CSV download."""
    rows = []
    for quantity in ("accounts_kept", "arr_kept"):
        r = result[quantity]
        rows.append({"quantity": quantity, "estimate": r["estimate"], "ci_lower": r["ci_lower"], "ci_upper": r["ci_upper"]})
    for side in ("baseline", "scenario"):
        for key, value in result[side].items():
            rows.append({"quantity": f"{side}_{key}", "estimate": value, "ci_lower": None, "ci_upper": None})
    if economics["yearly_cost"] > 0:
        rows.append({"quantity": "roi", "estimate": economics["roi_estimate"], "ci_lower": economics["roi_ci_lower"],
                     "ci_upper": economics["roi_ci_upper"]})
        rows.append({"quantity": "payback_months", "estimate": economics["payback_months_estimate"],
                     "ci_lower": economics["payback_months_ci_upper"], "ci_upper": economics["payback_months_ci_lower"]})
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
            text = "Calibration: this build stores no check of the model (too little history, or an older build)."
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


def evidence_lines(result: dict, factor_effects: pd.DataFrame) -> list[str]:
    """What the estimate rests on, per changed factor: the adjustment set, the consequences included in the
    effect, the factor's own hazard ratio with its interval and E-value, and any overlap warning."""
    lines = []
    own = factor_effects.set_index("factor") if not factor_effects.empty else pd.DataFrame()
    for change in result["changes"]:
        factor = change["factor"]
        name = title(factor)
        if factor in own.index:
            row = own.loc[[factor]].iloc[0]
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
