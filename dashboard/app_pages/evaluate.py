"""Evaluate a change: did a past support change move the service, did it move churn, what was that worth, how sure
are we, and did the drivers model see it coming."""

from datetime import date

import streamlit as st

from dashboard import charts, data, evaluate_view
from dashboard.common import (current_filters, dataframe_height, filter_caption, keep_choice, require_database,
                              restore_choice)
from dashboard.labels import literal, natural_key, segment_label

con, info = require_database()
filters = current_filters()
st.title("Evaluate a change")
st.caption(f"Data to {info['as_of_date']:%Y-%m-%d} · {filter_caption(filters)}")

events, events_problem = data.recorded_events(info)
if events_problem:
    st.warning(f"The events file cannot be read: {events_problem}")
names = [event.name for event in events]
options = [*names, evaluate_view.CUSTOM]
restore_choice("eval_event", options[0], evaluate_view.read_option(options), options=options)
chosen = st.selectbox("Change", options, key="eval_event",
                      help="The changes recorded in events.csv beside your accounts file (name, date, treated; one "
                           "row per step of a rollout), or one you describe here.")
keep_choice("eval_event", chosen, options[0], evaluate_view.as_url)
if chosen in names:
    event = events[names.index(chosen)]
    name, rollouts = event.name, tuple((f"{step.start:%Y-%m-%d}", step.treated) for step in event.rollouts)
    st.caption("; ".join(f"{' and '.join(step.treated) or evaluate_view.EVERY_ACCOUNT} from {step.start:%d %b %Y}"
                         for step in event.rollouts))
else:
    left, middle, right = st.columns(3)
    restore_choice("eval_name", evaluate_view.DEFAULT_NAME, evaluate_view.read_text)
    name = left.text_input("What changed", key="eval_name")
    keep_choice("eval_name", name, evaluate_view.DEFAULT_NAME, evaluate_view.as_url)
    default_start = date(info["as_of_date"].year - 1, info["as_of_date"].month, 1)
    restore_choice("eval_date", default_start, evaluate_view.read_date)
    start = middle.date_input("From", key="eval_date", max_value=info["as_of_date"])
    keep_choice("eval_date", start, default_start, evaluate_view.as_url)
    segments = data.segment_columns(con)
    reach = [evaluate_view.EVERY_ACCOUNT, *segments[segments.kind == "categorical"].column_name.tolist()]
    restore_choice("eval_column", reach[0], evaluate_view.read_option(reach), options=reach)
    column = right.selectbox("It reached", reach, key="eval_column",
                             format_func=lambda c: c if c == evaluate_view.EVERY_ACCOUNT else f"one {segment_label(c)}")
    keep_choice("eval_column", column, reach[0], evaluate_view.as_url)
    treated: tuple[str, ...] = ()
    if column != evaluate_view.EVERY_ACCOUNT:
        levels = sorted(data.cached_segment_levels(con, info["build_id"], column, ()), key=natural_key)
        restore_choice("eval_value", levels[0], evaluate_view.read_option(levels), options=levels)
        value = right.selectbox(segment_label(column), levels, key="eval_value")
        keep_choice("eval_value", value, levels[0], evaluate_view.as_url)
        treated = (f"{column}={value}",)
    rollouts = ((f"{start:%Y-%m-%d}", treated),)
restore_choice("eval_design", "auto", evaluate_view.read_option(evaluate_view.DESIGN_KEYS),
               options=evaluate_view.DESIGN_KEYS)
design = st.selectbox("Design", evaluate_view.DESIGN_KEYS, format_func=evaluate_view.design_words, key="eval_design")
keep_choice("eval_design", design, "auto", evaluate_view.as_url)

try:
    result = data.cached_change_evaluation(con, info["build_id"], name, rollouts, design, filters)
except ValueError as error:
    st.warning(f"This change cannot be evaluated: {error}")
    st.stop()

st.markdown(f"**{literal(result['verdict'])}**")
st.caption(f"Design: {result['design']} · {result['accounts']['treated_accounts']:,} accounts reached, "
           f"{result['accounts']['comparison_accounts']:,} not")
for column, tile in zip(st.columns(5), evaluate_view.tiles(result)):
    column.metric(tile["label"], tile["value"])
    column.caption(tile["interval"])
st.write(literal(evaluate_view.kept_sentence(result)))

st.subheader("Did the service move?")
series, measure_label = evaluate_view.service_series(result)
if not series.empty:
    st.plotly_chart(charts.measure_by_month(series, measure_label, result["date"]), key="eval_measure")
table = evaluate_view.service_table(result)
st.dataframe(table, hide_index=True, height=dataframe_height(len(table)))
st.caption("A measure counts as moved only when its change is clear of chance after allowing for the number of "
           "measures tested. The measures are 90-day windows, so a change shows in full from its fourth month.")

st.subheader("Did it move churn?")
st.plotly_chart(charts.event_study(evaluate_view.event_study_frame(result)), key="eval_event_study")
st.write(literal(result["pre_trend"]["verdict"]))
placebos = evaluate_view.placebo_table(result)
if not placebos.empty:
    st.caption("Placebos: the same estimate where there was no change (earlier dates, or the other groups as if they "
               "had been reached). They should find nothing.")
    st.dataframe(placebos, hide_index=True, height=dataframe_height(len(placebos)))

st.subheader("Did the drivers model see it coming?")
expected = result["expected_from_drivers"]
(st.warning if expected["consistent"] is False else st.info)(literal(expected["sentence"]))

with st.expander("How this is estimated, and what it rests on"):
    st.markdown("\n".join(f"- {literal(note)}" for note in result["notes"]))
