"""Survival explorer for analysts: Kaplan-Meier curves by any segment, with intervals and at-risk counts, and churn
split by its cause (cumulative incidence) where the data gives churn reasons."""

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
VIEWS = ["accounts (logo)", "revenue (share of starting MRR)", survival_view.CAUSE_VIEW]
restore_choice("km_view", VIEWS[0], lambda texts: VIEWS[VIEWS.index(texts[0])])
view = st.radio("View", VIEWS, horizontal=True, key="km_view")
keep_choice("km_view", view, VIEWS[0], lambda v: [v])
by_column = None if by == options[0] else by

if view == survival_view.CAUSE_VIEW:
    try:
        causes = data.cached_cause_incidence(con, info["build_id"], by_column, filters)
    except ValueError as error:  # the model names the problem (e.g. no churn yet, no accounts after the filters)
        st.warning(str(error))
        st.stop()
    if causes is None:  # no churn reasons: one sentence, and no chart of "unknown" churn alone
        st.info(survival_view.no_reasons_sentence(filtered=bool(filters)))
    else:
        shown = [str(g) for g in causes.groups_]
        if len(shown) > survival_view.MAX_CURVES:
            shown = st.multiselect(
                f"Panels shown ({len(shown)} groups; the {survival_view.MAX_CURVES} largest to start)", shown,
                default=survival_view.largest_cause_groups(causes), key=f"cause_groups:{by}")
        st.plotly_chart(charts.cause_incidence(survival_view.cause_curves(causes, shown),
                                               labels=survival_view.cause_labels(causes)), key="cause_chart")
        sentence = survival_view.cause_sentence(causes, shown)
        if sentence:
            st.markdown(sentence)
        cause_table = survival_view.cause_table(causes)
        st.dataframe(cause_table, hide_index=True)
        st.caption("Each layer is the share of accounts that had churned from one cause by that day since signup "
                   "(cumulative incidence, Aalen–Johansen: the causes compete, so they and the share still a "
                   "customer add up to 100%); the shaded band at a layer's edge is that cause's 95% confidence "
                   "interval. Differences between groups are associations, not causes.")
        csv_download(causes.incidence_, "Download the curve table (CSV)", "churn_by_cause_curves.csv",
                     key="dl_cause_curves")
        csv_download(cause_table, "Download the summary (CSV)", "churn_by_cause_summary.csv", key="dl_cause_summary")
else:
    try:
        km = data.cached_survival(con, info["build_id"], by_column, filters)
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
