"""Overview for executives: headline KPIs vs a year earlier, revenue retention, cohorts, findings."""

import streamlit as st

from dashboard import charts, data, findings, report
from dashboard.common import csv_download, current_filters, download, filter_caption, require_database

con, info = require_database()
filters = current_filters()
build_id, as_of = info["build_id"], info["as_of_date"]

st.title("Overview")
st.caption(f"As of {as_of:%d %B %Y} · {filter_caption(filters)} · revenue from {info['revenue_basis'].replace('_', ' ')}")
if data.account_count(con, filters) == 0:
    st.warning("No accounts match the filters. Widen them in the sidebar.")
    st.stop()

kpis, monthly, cohorts = data.cached_kpis(con, build_id, filters, as_of)
survival = data.cached_survival(con, build_id, None, filters)
headline = report.headline_metrics(kpis, survival.summary_)

columns = [column for _ in range(2) for column in st.columns(3)]
for column, metric in zip(columns, headline):
    column.metric(metric["label"], metric["value"], metric["delta"], delta_color=metric["delta_color"],
                  help=metric["help"])

st.subheader("What the models say")
# a refit on the filtered accounts takes seconds at scale, so a filter change does not start one unasked
refit = bool(filters) and st.toggle(
    "Refit on the filtered accounts", key="overview_refit",
    help="Fit the mutually adjusted drivers model on the filtered accounts only (seconds on a large build; the "
         "result is kept for this filter). Off: the findings come from each factor's own model, fitted at build "
         "time on every account.")
try:
    effects = data.findings_effects(con, build_id, filters, refit)
except ValueError:  # e.g. no churn among the filtered accounts: KPIs still stand, findings cannot
    effects = None
source_note = findings.findings_source_note(bool(filters), refit, bool(data.scope()))
sentences = findings.service_findings(effects) + [s for s in [findings.survival_finding(survival.summary_)] if s]
if sentences:
    st.markdown("\n".join(f"- {s}" for s in sentences[:5]))
    st.caption("Estimated effects from observational data if the listed confounders are the important ones; the "
               "E-value says how strong a hidden confounder would have to be to explain one away. "
               + source_note)
else:
    st.info("The drivers model has no clear findings for these accounts yet (too few churns or no interactions).")

left, right = st.columns(2)
trend_figure = charts.retention_trend(monthly)
left.plotly_chart(trend_figure, key="retention_trend")
value = right.radio("Cohort view", ["accounts", "revenue"], horizontal=True, key="cohort_view")
cohort_figure = charts.cohort_heatmap(
    cohorts, "retained_account_share" if value == "accounts" else "revenue_retained_share",
    title=f"Cohort retention ({value})")
right.plotly_chart(cohort_figure, key="cohort_heatmap")

with st.expander("Monthly KPIs table"):
    st.dataframe(monthly, hide_index=True)
    csv_download(monthly, "Download monthly KPIs (CSV)", "kpi_monthly.csv", key="dl_kpi")
csv_download(cohorts, "Download cohort retention (CSV)", "cohort_retention.csv", key="dl_cohorts")
download(
    st, "Download this overview as an HTML report",
    lambda: report.overview_html(info, filters, headline, sentences, [trend_figure, cohort_figure],
                                 source_note).encode("utf-8"),
    file_name="retention_overview.html", mime="text/html", key="dl_overview_html", icon=":material/description:",
)
