"""The global filters in the sidebar, kept in st.query_params so a shared URL reproduces the view.

Each categorical segment is a multiselect (nothing chosen: every account), MRR and each numeric segment a range, and
the signup cohort a from/to pair. They become the filter texts of `pipelines.filters`: one value `COLUMN=VALUE`,
several `COLUMN in V1|V2`, a range `COLUMN>=LO` and `COLUMN<=HI` for each end moved in from the column's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.common import FILTER_STATE
from dashboard.labels import is_money, natural_key, segment_label
from pipelines.filters import (COHORT_COLUMN, SET_OPERATOR, FilterableColumn, FilterError, allow_list, parse_filter,
                               values_filter_text)
from pipelines.settings import FILTER_MAX_LEVELS

ALL = "All"
MRR = "mrr"
# A numeric column of whole numbers with at most this many values between its ends gets a slider, one position a
# value. A wider one (MRR, in money) gets two number boxes instead: on a slider a pixel would be worth dozens of
# dollars, and a bound could not be typed.
SLIDER_MAX_STEPS = 200


@dataclass(frozen=True)
class NumberSpan:
    """How the sidebar offers one numeric column: its ends rounded outward to the step (so the full span keeps every
    account with a value), and whether as a slider or as two number boxes."""

    low: int | float
    high: int | float
    step: int | float
    slider: bool


def number_span(low: float | None, high: float | None, whole: bool) -> NumberSpan | None:
    """The span of a column whose values run from `low` to `high`; None when there is nothing to choose between."""
    if low is None or high is None or not low < high:
        return None
    if whole or high - low > SLIDER_MAX_STEPS:  # cents do not matter across a wide span
        low, high = math.floor(low), math.ceil(high)
        return NumberSpan(low, high, 1, whole and high - low <= SLIDER_MAX_STEPS)
    return NumberSpan(math.floor(low * 100) / 100, math.ceil(high * 100) / 100, 0.01, False)


def number_text(value: float) -> str:
    """A bound as a filter text writes it: 100, not 100.0; 0.25; never 0.25000000000000006."""
    return str(int(value)) if float(value).is_integer() else format(float(value), ".10g")


def range_texts(column: str, chosen: tuple, span: NumberSpan) -> list[str]:
    """The filter texts of a chosen range: a bound for each end moved in from the span's (none for the full span,
    which also keeps the accounts with no value); two boxes set the wrong way round mean the same range."""
    low, high = sorted(chosen)
    return ([f"{column}>={number_text(low)}"] if low > span.low else []) + \
        ([f"{column}<={number_text(high)}"] if high < span.high else [])


@dataclass
class UrlFilters:
    """The widgets' state a link's filter texts describe."""

    values: dict[str, list[str]] = field(default_factory=dict)  # categorical column -> values chosen
    lower: dict[str, float] = field(default_factory=dict)  # numeric column -> its lower bound
    upper: dict[str, float] = field(default_factory=dict)
    cohort_from: str | None = None  # YYYY-MM
    cohort_to: str | None = None


def _parse(filters: list[str], columns: dict[str, FilterableColumn]) -> UrlFilters:
    """Split filter texts back into the widgets' initial state, read by the same parser the queries use.

    A text the sidebar cannot show (another operator, an unknown column, a bad set) is left out, and two texts on
    one column narrow each other as the queries would: the person's scope is applied apart from these texts, so
    what a link says can never widen it."""
    state = UrlFilters()
    for text in filters:
        try:
            parsed = parse_filter(text, columns)
        except FilterError:
            continue
        name, operator, value = parsed.column.name, parsed.operator, parsed.value
        if parsed.column.kind == "categorical" and operator in ("=", SET_OPERATOR):
            chosen = list(value) if isinstance(value, tuple) else [str(value)]  # a set, or "=" and its one value
            earlier = state.values.get(name)
            state.values[name] = chosen if earlier is None else [v for v in earlier if v in chosen]
        elif parsed.column.kind == "numeric" and operator in (">=", "<=") and isinstance(value, float):
            bounds, tighter = (state.lower, max) if operator == ">=" else (state.upper, min)
            bounds[name] = tighter(bounds.get(name, value), value)
        elif name == COHORT_COLUMN and parsed.column.kind == "date" and operator in (">=", "<="):
            if operator == ">=":
                state.cohort_from = f"{value:%Y-%m}"
            else:
                state.cohort_to = f"{value:%Y-%m}"
    return state


def _restore(state: UrlFilters) -> None:
    """Seed the widgets' session state from a link, before they are drawn (each widget then checks its own)."""
    for column, values in state.values.items():
        st.session_state[f"filter:{column}"] = values
    for column in {*state.lower, *state.upper}:
        low, high = state.lower.get(column), state.upper.get(column)
        # a slider keeps both ends under one key, the number boxes one each; the widget drawn reads its own
        st.session_state[f"filter:{column}"] = (low, high)
        st.session_state[f"filter:{column}:from"], st.session_state[f"filter:{column}:to"] = low, high
    if state.cohort_from:
        st.session_state["filter:cohort_from"] = state.cohort_from
    if state.cohort_to:
        st.session_state["filter:cohort_to"] = state.cohort_to


def _within(value, span: NumberSpan, default):
    """`value` held inside the span, of the widget's type; `default` (the span's end) for no value. On a widget of
    whole numbers a lower bound rounds up and an upper bound down, so a link's range is never widened."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return default
    held = min(max(value, span.low), span.high)
    if span.step != 1:
        return float(held)
    return math.ceil(held) if default == span.low else math.floor(held)


def _number_range(column: str, span: NumberSpan) -> tuple:
    """Draw one numeric column's range; return the chosen (low, high)."""
    label, money = segment_label(column), is_money(column)
    key = f"filter:{column}"
    if span.slider:
        kept = st.session_state.get(key)
        low, high = kept if isinstance(kept, (tuple, list)) and len(kept) == 2 else (None, None)
        st.session_state[key] = (_within(low, span, span.low), _within(high, span, span.high))
        # a range slider: its value is the (low, high) pair set in session_state above, which Streamlit's overloads
        # (typed on min_value) cannot see, so they promise one number
        return st.sidebar.slider(label, min_value=span.low, max_value=span.high, step=span.step,  # type: ignore[return-value]
                                 key=key, format="$%,d" if money else "%,d")
    unit = " ($)" if money else ""
    chosen = []
    for end, default in (("from", span.low), ("to", span.high)):
        end_key = f"{key}:{end}"
        st.session_state[end_key] = _within(st.session_state.get(end_key), span, default)
        chosen.append(st.sidebar.number_input(f"{label} {end}{unit}", min_value=span.low, max_value=span.high,
                                              step=span.step, key=end_key, format="%d" if span.step == 1 else "%.2f"))
    return tuple(chosen)


def render(con) -> tuple[str, ...]:
    """Draw the filters; return them as filter texts (COLUMN=VALUE, COLUMN in V1|V2, mrr>=100,
    signup_cohort_month>=YYYY-MM ...)."""
    info = data.build_info(con)
    segments = data.segment_columns(con)
    categorical = segments[(segments.kind == "categorical") & (segments.n_levels <= FILTER_MAX_LEVELS)].column_name.tolist()
    numeric = ([] if MRR in set(segments.column_name) else [MRR]) + segments[segments.kind == "numeric"].column_name.tolist()
    from_url = st.query_params.get_all("filter")
    if from_url and "filters_initialised" not in st.session_state:
        _restore(_parse(from_url, allow_list(zip(segments.column_name, segments.kind))))
    st.session_state["filters_initialised"] = True

    st.sidebar.header("Filters")
    st.sidebar.caption(f"As of {info['as_of_date']:%Y-%m-%d} · every page honours these")
    filters: list[str] = []
    for column in categorical:
        options = sorted(data.cached_segment_levels(con, info["build_id"], column, ()), key=natural_key)
        key = f"filter:{column}"
        kept = st.session_state.get(key)
        st.session_state[key] = [v for v in options if v in kept] if isinstance(kept, list) else []
        chosen = st.sidebar.multiselect(segment_label(column), options, key=key, placeholder=ALL)
        if chosen:
            # in the options' order, so one choice is one text (one link, one cached result) whatever the clicks
            filters.append(values_filter_text(column, [v for v in options if v in chosen]))

    for column in numeric:
        span = number_span(*data.cached_numeric_range(con, info["build_id"], column, ()))
        if span is not None:
            filters += range_texts(column, _number_range(column, span), span)

    first, last = data.cached_cohort_range(con, info["build_id"], ())
    months = [m.strftime("%Y-%m") for m in pd.date_range(first, last, freq="MS")] if first is not None else []
    if months:
        for key, default in (("filter:cohort_from", months[0]), ("filter:cohort_to", months[-1])):
            if st.session_state.get(key) not in months:
                st.session_state[key] = default
        cohort_from = st.sidebar.selectbox("Signup cohort from", months, key="filter:cohort_from")
        cohort_to = st.sidebar.selectbox("Signup cohort to", months, key="filter:cohort_to")
        if cohort_from != months[0]:
            filters.append(f"signup_cohort_month>={cohort_from}")
        if cohort_to != months[-1]:
            filters.append(f"signup_cohort_month<={cohort_to}")

    st.session_state[FILTER_STATE] = tuple(filters)
    if filters:
        st.query_params["filter"] = filters
    elif "filter" in st.query_params:
        del st.query_params["filter"]
    return tuple(filters)
