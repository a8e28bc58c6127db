"""Survival explorer for analysts: Kaplan-Meier curves by any segment, with intervals and at-risk counts."""

import streamlit as st

from dashboard import charts, data, survival_view
from dashboard.common import (csv_download, current_filters, filter_caption, keep_choice, require_database,
                              restore_choice)
from dashboard.labels import segment_label

con, info = require_database()
filters = current_filters()
st.title("Survival explorer")
st.caption(f"Days from signup to churn, censored at {info['as_of_date']:%Y-%m-%d} · {filter_caption(filters)}")

options = ["(all accounts)", *survival_view.grouping_options(con)]
restore_choice("km_by", options[0], lambda texts: options[options.index(texts[0])], options=options)
by = st.selectbox("Split by", options, key="km_by", format_func=lambda o: o if o == options[0] else segment_label(o))
keep_choice("km_by", by, options[0], lambda v: [v])
VIEWS = ["accounts (logo)", "revenue (share of starting MRR)"]
restore_choice("km_view", VIEWS[0], lambda texts: VIEWS[VIEWS.index(texts[0])])
view = st.radio("View", VIEWS, horizontal=True, key="km_view")
keep_choice("km_view", view, VIEWS[0], lambda v: [v])
try:
    km = data.cached_survival(con, info["build_id"], None if by == options[0] else by, filters)
except ValueError as error:  # the model names the problem (e.g. no accounts after the filters)
    st.warning(str(error))
    st.stop()

groups = km.summary_.group.astype(str).tolist()
shown = groups
if len(groups) > survival_view.MAX_CURVES:
    shown = st.multiselect(f"Curves shown ({len(groups)} groups; the {survival_view.MAX_CURVES} largest to start)",
                           groups, default=survival_view.largest_groups(km), key=f"km_groups:{by}")
curves = km.curves_[km.curves_.group.astype(str).isin(shown)]
revenue_curves = km.revenue_curves_[km.revenue_curves_.group.astype(str).isin(shown)]
if view.startswith("accounts"):
    figure = charts.survival_curves(curves)
else:
    figure = charts.survival_curves(revenue_curves, y="revenue_retained_share",
                                    title="Share of starting MRR still retained", y_title="MRR retained")
st.plotly_chart(figure, key="km_chart")

summary = survival_view.summary_table(km)
st.dataframe(summary, hide_index=True)
test = survival_view.logrank_sentence(km)
if test:
    st.markdown(test)
st.caption("Shaded bands are 95% confidence intervals (Greenwood, log-log). RMST is the mean days as a customer "
           "within the horizon. Differences between groups are associations, not causes.")
csv_download(km.curves_, "Download the curve table (CSV)", "survival_curves.csv", key="dl_curves")
csv_download(summary, "Download the summary (CSV)", "survival_summary.csv", key="dl_summary")
