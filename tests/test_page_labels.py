"""Every page speaks in labels: rendered with AppTest on the demo, no built-in column, measure or segment name
(snake_case as the database holds it) appears in what a person reads: titles, headings, captions, text, metric
labels, widget labels and options, table headers as shown (after the page's column labels), expander labels,
or a chart's titles, axes, legend and hover text.

The Data page is where an analyst looks at the database itself: its table browser, the load report and the rejected
rows show tables and the input files' columns as they are named, which is what they are for; its words around
them are checked like every other page's."""

from __future__ import annotations

import json
import re

import pytest

from conftest import run_app
from pipelines.models.factors import FACTORS, MEASURE_COLUMNS, TERMS_BY_NAME

PAGES = ("overview", "survival", "drivers", "investment", "at_risk", "data_page")
# Raw names that read as a word when lower case: their labels are capitalised (CSAT, MRR, ARR, CSM)
LOWER_CASE_NAMES = ("csat", "mrr", "arr", "csm")
# the tables whose columns the pages show
SHOWN_TABLES = ("account_survival", "account_risk", "kpi_monthly", "cohort_retention", "factor_effects",
                "factor_stability", "factor_revenue_effects", "factor_orderings", "driver_effects", "whatif_levers",
                "model_calibration", "account_months", "segment_columns")


def raw_names(con) -> set[str]:
    """Every built-in name a person should never read: factors, their terms and panel columns, the shown tables'
    columns and the build's segment columns (those with an underscore, or a lower-case word in LOWER_CASE_NAMES)."""
    names = {f.name for f in FACTORS} | {f.column for f in FACTORS} | set(MEASURE_COLUMNS)
    names |= {t.split(":")[0] for t in TERMS_BY_NAME}
    for table in SHOWN_TABLES:
        names |= {row[0] for row in con.execute(
            "select column_name from information_schema.columns where table_name = ?", [table]).fetchall()}
    names |= {row[0] for row in con.execute("select column_name from segment_columns").fetchall()}
    return {n for n in names if "_" in n or n in LOWER_CASE_NAMES}


def found_in(text: str, names: set[str]) -> list[str]:
    if not text:
        return []
    return [n for n in names if re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])", text)]


def chart_texts(spec: dict) -> list[str]:
    """What a person reads on a plotly figure: its title, axis and legend titles, trace names and hover text (with
    the placeholders taken out)."""
    layout = spec.get("layout", {})
    texts = []

    def title(node) -> None:
        value = (node or {}).get("title")
        texts.append(value.get("text", "") if isinstance(value, dict) else value or "")

    title(layout)
    for key, axis in layout.items():
        if key.startswith(("xaxis", "yaxis", "coloraxis")):
            title(axis)
            title((axis or {}).get("colorbar"))
    title(layout.get("legend"))
    for annotation in layout.get("annotations", []):
        texts.append(annotation.get("text", ""))
    for trace in spec.get("data", []):
        texts.append(str(trace.get("name", "") or ""))
        texts.append(re.sub(r"%\{[^}]*\}", "", str(trace.get("hovertemplate", "") or "")))
    return texts


def table_headers(element) -> list[str]:
    """A table's headers as shown: each column's configured label, else its name; hidden columns left out."""
    config = json.loads(element.proto.columns or "{}")
    frame = element.value
    headers = []
    for column in frame.columns:
        entry = config.get(f"name:{column}", config.get(str(column), {}))
        if isinstance(entry, str):
            headers.append(entry)
        elif not entry.get("hidden"):
            headers.append(entry.get("label") or str(column))
    return headers


def visible_texts(at, page: str) -> list[tuple[str, str]]:
    """(where, text) for everything a person reads on the page."""
    out: list[tuple[str, str]] = []
    for kind in ("title", "header", "subheader", "caption", "markdown", "info", "warning", "success", "error"):
        out += [(kind, e.value) for e in getattr(at, kind)]
    out += [("metric", f"{m.label} {m.value}") for m in at.metric]
    for kind in ("selectbox", "multiselect", "radio", "slider", "number_input", "toggle", "checkbox", "text_input",
                 "button", "select_slider", "date_input"):
        for widget in getattr(at, kind):
            out.append((kind, widget.label))
            out += [(f"{kind} option", str(o)) for o in getattr(widget, "options", [])]
    out += [("expander", e.label) for e in at.expander]
    out += [("tab", t.label) for t in at.tabs]
    if page != "data_page":
        for element in at.dataframe:
            out += [("table header", h) for h in table_headers(element)]
    for element in at.get("plotly_chart"):
        out += [("chart", t) for t in chart_texts(json.loads(element.proto.spec))]
    return out


@pytest.fixture(scope="module")
def names(db) -> set[str]:
    return raw_names(db)


@pytest.mark.parametrize("page", PAGES)
def test_no_page_shows_a_built_in_name(page, names, small_demo_database, monkeypatch):
    monkeypatch.setenv("RETENTION_DB", str(small_demo_database[0]))
    at = run_app(page)
    texts = visible_texts(at, page)
    assert len(texts) > 10  # the collector reads the page
    raw = [(where, name, text[:160]) for where, text in texts for name in found_in(text, names)]
    assert not raw, "\n".join(f"{where}: {name!r} in {text!r}" for where, name, text in raw)
