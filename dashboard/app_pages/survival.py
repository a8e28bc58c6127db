"""Survival explorer for analysts: Kaplan-Meier curves by any segment, with intervals and at-risk counts."""

import streamlit as st

from dashboard import charts, data, survival_view
from dashboard.common import csv_download, current_filters, filter_caption, require_database

con, info = require_database()
filters = current_filters()
st.title("Survival explorer")
st.caption(f"Days from signup to churn, censored at {info['as_of_date']:%Y-%m-%d} · {filter_caption(filters)}")

options = ["(all accounts)", *survival_view.grouping_options(con)]
by = st.selectbox("Split by", options, key="km_by")
view = st.radio("View", ["accounts (logo)", "revenue (share of starting MRR)"], horizontal=True, key="km_view")
try:
    km = data.cached_survival(con, info["build_id"], None if by == options[0] else by, filters)
except ValueError as error:  # the model names the problem (e.g. no accounts after the filters)
    st.warning(str(error))
    st.stop()

if view.startswith("accounts"):
    figure = charts.survival_curves(km.curves_)
else:
    figure = charts.survival_curves(km.revenue_curves_, y="revenue_retained_share", title="Share of starting MRR still retained",
                                    y_title="MRR retained")
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
