"""Overview for executives: headline KPIs vs a year earlier, revenue retention, cohorts, findings."""

import streamlit as st

from dashboard import charts, data, findings, report
from dashboard.reports import brief, content, pdf
from dashboard.common import csv_download, current_filters, download, filter_caption, require_database
from dashboard.labels import literal, revenue_basis_words

con, info = require_database()
filters = current_filters()
build_id, as_of = info["build_id"], info["as_of_date"]

st.title("Overview")
st.caption(f"As of {as_of:%d %B %Y} · {filter_caption(filters)} · revenue from {revenue_basis_words(info['revenue_basis'])}")
try:
    view = content.overview(con, info, filters)
except ValueError:
    st.warning("No accounts match the filters. Widen them in the sidebar.")
    st.stop()
kpis, monthly, cohorts, headline = view.kpis, view.monthly, view.cohorts, view.headline
changes = data.recorded_change_dates(info)  # marked on the trend charts

columns = [column for _ in range(2) for column in st.columns(3)]
for column, metric in zip(columns, headline):
    column.metric(metric["label"], metric["value"], metric["delta"], delta_color=metric["delta_color"],
                  help=metric["help"])

st.subheader("What the models say")
if view.year_on_year:
    st.markdown(view.year_on_year)
# the story comes from the models the build fitted on every account, whatever the filters; a refit on the filtered
# accounts is shown beside it, labelled, never instead of it
sentences = view.levers + ([view.survival_line] if view.survival_line else [])
if view.levers:
    st.markdown("\n".join(f"- {s}" for s in sentences))
    st.caption(f"What a change would keep among all {view.lever_accounts:,} active "
               "accounts, estimated from observational data: associations, not proof of cause. " + view.source_note
               + " " + view.structure_line)
else:
    st.info("No single service lever is sure to keep accounts in these data (too few churns, or no clear effect).")
    if view.survival_line:
        st.markdown(f"- {view.survival_line}")
with st.expander("The hazard ratios behind these, and how sure we are"):
    st.caption(findings.HAZARD_RATIO_IN_WORDS)
    st.markdown("\n".join(f"- {s}" for s in view.effect_lines) or "No service effect is clear in these data.")
    # a refit on the filtered accounts takes seconds at scale, so a filter change does not start one unasked
    if filters and st.toggle(
            "Also refit on the filtered accounts", key="overview_refit",
            help="Fit the mutually adjusted drivers model on the filtered accounts only (seconds on a large build; "
                 "the result is kept for this filter). It is shown below, beside the all-account figures above."):
        try:
            refitted = findings.service_findings(data.findings_effects(con, build_id, filters, True))
            st.markdown("**" + findings.findings_source_note(True, True) + "**")
            st.markdown("\n".join(f"- {s}" for s in refitted) or "No service effect is clear among these accounts.")
        except ValueError as error:
            st.info(f"No refit on these accounts: {error}")
sentences = view.findings_lines  # those above and the hazard ratios', in the page's order

st.subheader("Where we are heading")
figures = []
# the build forecast every account; a selection's forecast is a simulation of its own, made when asked for
if filters and not st.toggle(
        "Forecast the filtered accounts", key="overview_forecast",
        help="Simulate the coming 12 months of the filtered accounts (seconds on a large build; the result is kept "
             "for this filter)."):
    st.caption("The build's forecast covers every account. Switch on the toggle above to forecast the filtered "
               "accounts alone.")
    forecast_shown = None
else:
    forecast_shown = content.forecast_view(con, info, filters)
    forecast, forecast_info = forecast_shown.forecast, forecast_shown.info
    forecast_line = forecast_shown.sentence
    if forecast is None or forecast_line is None:
        st.info(f"No forecast: {forecast_shown.missing_reason}.")
    else:
        st.markdown(literal(forecast_line))
        sentences.append(forecast_line)
        if cause_forecast_line := forecast_shown.cause_sentence:
            st.markdown(cause_forecast_line)
            sentences.append(cause_forecast_line)
        start = forecast_info["as_of"]
        left, right = st.columns(2)
        for column, measure, base_measure, at_start, money_axis, name in (
                (left, "active_accounts", "existing_base_accounts", "active_accounts_at_as_of", False,
                 "Active accounts"),
                (right, "mrr", "existing_base_mrr", "mrr_at_as_of", True, "MRR")):
            if measure not in set(forecast.measure):
                continue
            title = f"{name}: the last two years and the next {forecast.month_number.max()} months"
            figure = charts.forecast_fan(findings.forecast_history(monthly, measure), forecast, measure,
                                         base_measure, (start, forecast_info[at_start]), money_axis, title=title,
                                         changes=changes)
            column.plotly_chart(figure, key=f"forecast_{measure}")
            figures.append(figure)
        st.caption(findings.FORECAST_INTERVALS_IN_WORDS)
        with st.expander("The forecast month by month, and how it was made"):
            st.dataframe(findings.forecast_table(forecast), hide_index=True)
            st.markdown("\n".join(f"- {note}" for note in forecast_info.get("notes", [])))
            csv_download(forecast, "Download the forecast (CSV)", "forecast.csv", key="dl_forecast")

left, right = st.columns(2)
trend_figure = charts.retention_trend(monthly, changes=changes)
left.plotly_chart(trend_figure, key="retention_trend")
if not changes.empty:
    left.caption("Dotted lines: the changes recorded in events.csv. The Evaluate a change page measures what each "
                 "did; a line only says when it happened.")
value = right.radio("Cohort view", ["accounts", "revenue"], horizontal=True, key="cohort_view")
cohort_figure = charts.cohort_heatmap(
    cohorts, "retained_account_share" if value == "accounts" else "revenue_retained_share",
    title=f"Cohort retention ({value})")
right.plotly_chart(cohort_figure, key="cohort_heatmap")

st.subheader("Churn by cause")
figures += [trend_figure, cohort_figure]
if not view.has_churn_reasons:
    st.markdown(findings.NO_CHURN_REASONS)
else:
    split, cause_line = view.cause_split, view.cause_line or ""
    st.markdown(literal(cause_line))  # literal: its dollar amounts are money, not the start of maths
    sentences.append(cause_line)
    if split is not None:
        cause_figure = charts.churn_by_cause(split.totals, labels=split.labels)
        st.plotly_chart(cause_figure, key="churn_by_cause")
        st.dataframe(findings.cause_table(split), hide_index=True)
        st.caption(findings.cause_periods_caption(split))
        figures.append(cause_figure)

with st.expander("Monthly KPIs table"):
    money_column = lambda label: st.column_config.NumberColumn(label, format="dollar")  # noqa: E731
    share_column = lambda label: st.column_config.NumberColumn(label, format="percent")  # noqa: E731
    st.dataframe(monthly, hide_index=True, column_config={
        "month_start": st.column_config.DateColumn("Month", format="YYYY-MM"),
        "is_partial_month": st.column_config.CheckboxColumn("Month not over"),
        "accounts_at_start": "Accounts at start", "new_accounts": "New accounts", "churned_accounts": "Churned",
        "churned_from_start": "Churned of those at start", "logo_churn_rate": share_column("Logo churn"),
        "starting_mrr": money_column("MRR at start"), "new_mrr": money_column("New MRR"),
        "churned_mrr": money_column("Churned MRR"), "contraction_mrr": money_column("Contraction MRR"),
        "expansion_mrr": money_column("Expansion MRR"),
        "gross_revenue_retention": share_column("Gross revenue retention"),
        "net_revenue_retention": share_column("Net revenue retention"), "revenue_basis": None})
    csv_download(monthly, "Download monthly KPIs (CSV)", "kpi_monthly.csv", key="dl_kpi")
csv_download(cohorts, "Download cohort retention (CSV)", "cohort_retention.csv", key="dl_cohorts")
download(
    st, "Download this overview as an HTML report",
    lambda: report.overview_html(info, filters, headline, sentences, figures,
                                 view.source_note + " " + view.structure_line).encode("utf-8"),
    file_name="retention_overview.html", mime="text/html", key="dl_overview_html", icon=":material/description:",
)
# the brief of what is on screen; made at the click (a second or so), not on every run
if no_pdf := pdf.unavailable_reason():
    st.caption(f"PDF brief: {no_pdf}")
else:
    download(st, "Download this overview as a PDF brief",
             lambda: pdf.html_to_pdf(brief.overview_html(view, forecast_shown, cohort_view=value)),
             file_name="retention_overview.pdf", mime="application/pdf", key="dl_overview_pdf",
             icon=":material/picture_as_pdf:")
