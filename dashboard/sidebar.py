"""The global filters in the sidebar, kept in st.query_params so a shared URL reproduces the view."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.common import FILTER_STATE
from dashboard.labels import natural_key, segment_label
from pipelines.filters import FILTER_MAX_LEVELS

ALL = "All"


def _parse(filters: list[str], columns: list[str]) -> tuple[dict[str, str], str | None, str | None]:
    """Split filter texts back into {column: value} and the cohort range, for the widgets' initial state."""
    values: dict[str, str] = {}
    cohort_from = cohort_to = None
    for text in filters:
        if text.startswith("signup_cohort_month>="):
            cohort_from = text.split(">=", 1)[1]
            continue
        if text.startswith("signup_cohort_month<="):
            cohort_to = text.split("<=", 1)[1]
            continue
        for column in sorted(columns, key=len, reverse=True):
            if text.startswith(column + "="):
                values[column] = text[len(column) + 1:]
                break
    return values, cohort_from, cohort_to


def render(con) -> tuple[str, ...]:
    """Draw the filters; return them as filter texts (COLUMN=VALUE, signup_cohort_month>=YYYY-MM ...)."""
    info = data.build_info(con)
    segments = data.segment_columns(con)
    categorical = segments[(segments.kind == "categorical") & (segments.n_levels <= FILTER_MAX_LEVELS)].column_name.tolist()
    from_url = st.query_params.get_all("filter")
    if from_url and "filters_initialised" not in st.session_state:
        values, cohort_from, cohort_to = _parse(from_url, categorical)
        for column, value in values.items():
            st.session_state[f"filter:{column}"] = value
        if cohort_from:
            st.session_state["filter:cohort_from"] = cohort_from
        if cohort_to:
            st.session_state["filter:cohort_to"] = cohort_to
    st.session_state["filters_initialised"] = True

    st.sidebar.header("Filters")
    st.sidebar.caption(f"As of {info['as_of_date']:%Y-%m-%d} · every page honours these")
    filters: list[str] = []
    for column in categorical:
        options = [ALL, *sorted(data.cached_segment_levels(con, info["build_id"], column, ()), key=natural_key)]
        key = f"filter:{column}"
        if st.session_state.get(key) not in options:
            st.session_state[key] = ALL
        value = st.sidebar.selectbox(segment_label(column), options, key=key)
        if value != ALL:
            filters.append(f"{column}={value}")

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
