"""The "Evaluate a change" page's words and tables: an evaluation's JSON (pipelines' change_evaluation) in, tiles,
tables and sentences out. No Streamlit here: the page lays them out."""

from __future__ import annotations

from datetime import date

import pandas as pd

from dashboard.charts import money
from pipelines.models.factors import FACTORS_BY_NAME

DESIGN_CHOICES = {
    "auto": "the one the rollout allows",
    "did": "difference-in-differences",
    "synthetic": "synthetic control (one group against the other groups of its column)",
    "staggered": "staggered rollout (group-time effects)",
    "its": "interrupted time series (everyone at once)",
}
DESIGN_KEYS = list(DESIGN_CHOICES)
CUSTOM = "A change not in the events file"
DEFAULT_NAME = "Support change"
EVERY_ACCOUNT = "every account"


def read_option(options: list[str]):
    """The URL's text as one of `options` (ValueError for any other: the default then stands)."""
    def read(texts: list[str]) -> str:
        return options[options.index(texts[0])]
    return read


def read_text(texts: list[str]) -> str:
    return texts[0]


def read_date(texts: list[str]) -> date:
    return date.fromisoformat(texts[0])


def as_url(value) -> list[str]:
    """A choice as the URL's text: a date as YYYY-MM-DD, anything else as written."""
    return [value.isoformat() if isinstance(value, date) else str(value)]


def design_words(key: str) -> str:
    return DESIGN_CHOICES[key]


def _interval(block: dict, format_value) -> str:
    return f"95% interval {format_value(block['ci_lower'])} to {format_value(block['ci_upper'])}"


def tiles(result: dict) -> list[dict]:
    """The five figures a support leader reads first, each with its interval."""
    ratio, kept, arr = result["hazard_ratio"], result["accounts_kept"], result["arr_kept"]
    ratio_text = lambda v: f"{v:.2f}"  # noqa: E731
    accounts_text = lambda v: f"{v:,.0f}"  # noqa: E731
    return [
        {"label": "Churn hazard ratio after the change", "value": ratio_text(ratio["estimate"]),
         "interval": _interval(ratio, ratio_text)},
        {"label": "Accounts kept since the change", "value": accounts_text(kept["since_change"]["estimate"]),
         "interval": _interval(kept["since_change"], accounts_text)},
        {"label": "ARR kept since the change", "value": money(arr["since_change"]["estimate"]),
         "interval": _interval(arr["since_change"], money)},
        {"label": "Accounts kept a year from now", "value": accounts_text(kept["per_year"]["estimate"]),
         "interval": _interval(kept["per_year"], accounts_text)},
        {"label": "ARR kept a year from now", "value": money(arr["per_year"]["estimate"]),
         "interval": _interval(arr["per_year"], money)},
    ]


def _measure(row: dict, value) -> str:
    if value is None:
        return "—"
    kind = FACTORS_BY_NAME[row["factor"]].change
    if kind == "duration":
        return f"{value:.1f} h"
    if kind == "rate":
        return f"{value:.1%}"
    return f"{value:.2f}"


def _change(row: dict) -> str:
    kind = FACTORS_BY_NAME[row["factor"]].change
    if row["scale"] == "relative":
        shown = lambda v: f"{v:+.0%}"  # noqa: E731
    elif kind == "rate":
        shown = lambda v: f"{v * 100:+.1f} pp"  # noqa: E731
    else:
        shown = lambda v: f"{v:+.2f}"  # noqa: E731
    return f"{shown(row['estimate'])} ({shown(row['ci_lower'])} to {shown(row['ci_upper'])})".replace("-", "−")


def service_table(result: dict) -> pd.DataFrame:
    """Each service measure before and after the change for the reached accounts (and the others), and the change
    measured with its interval; whether it moved beyond chance."""
    rows = [{"service measure": row["label"],
             "reached: before": _measure(row, row["reached_before"]),
             "reached: after": _measure(row, row["reached_after"]),
             "others: before": _measure(row, row["others_before"]),
             "others: after": _measure(row, row["others_after"]),
             "change (95% interval)": _change(row),
             "moved": "yes" if row["moved"] else "no"} for row in result["service_change"]]
    table = pd.DataFrame(rows)
    if not result["accounts"]["comparison_accounts"] and not table.empty:
        table = table.drop(columns=["others: before", "others: after"])
    return table


def service_series(result: dict) -> tuple[pd.DataFrame, str]:
    """The first measure that moved, month by month for each group, and its label with its unit."""
    block = result["service_by_month"]
    if not block["rows"]:
        return pd.DataFrame(), ""
    factor = FACTORS_BY_NAME[block["factor"]]
    series = pd.DataFrame(block["rows"]).assign(month_start=lambda f: pd.to_datetime(f.month_start))
    unit = {"duration": " (hours)", "rate": " (share)"}.get(factor.change or "", "")
    return series, factor.title + unit


def placebo_table(result: dict) -> pd.DataFrame:
    """The placebo estimates (dates before the change, or the other groups as if they had been reached)."""
    rows = []
    for placebo in result["placebos"]:
        where = placebo.get("date") or placebo.get("unit") or ""
        interval = (f"{placebo['ci_lower']:.2f} to {placebo['ci_upper']:.2f}" if "ci_lower" in placebo else "—")
        rows.append({"placebo": where, "hazard ratio": f"{placebo['estimate']:.2f}", "95% interval": interval})
    return pd.DataFrame(rows)


def kept_sentence(result: dict) -> str:
    """What the change was worth, in one sentence with its intervals."""
    kept, arr = result["accounts_kept"]["since_change"], result["arr_kept"]["since_change"]
    year, arr_year = result["accounts_kept"]["per_year"], result["arr_kept"]["per_year"]
    return (f"Since {result['date']} the change kept about {kept['estimate']:,.0f} accounts "
            f"({kept['ci_lower']:,.0f} to {kept['ci_upper']:,.0f}) and {money(arr['estimate'])} of ARR "
            f"({money(arr['ci_lower'])} to {money(arr['ci_upper'])}); from now on about {year['estimate']:,.0f} "
            f"accounts a year ({year['ci_lower']:,.0f} to {year['ci_upper']:,.0f}), {money(arr_year['estimate'])} "
            f"of ARR ({money(arr_year['ci_lower'])} to {money(arr_year['ci_upper'])}).").replace("$-", "−$")


def event_study_frame(result: dict) -> pd.DataFrame:
    """The months around the change as the chart takes them."""
    frame = pd.DataFrame(result["event_study"], columns=["months_from_change", "estimate", "ci_lower", "ci_upper"])
    return frame.astype({"months_from_change": int}) if not frame.empty else frame
