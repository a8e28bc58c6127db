"""Investment case for support leaders: what improving a factor is worth in accounts and ARR."""

import pandas as pd
import streamlit as st

from dashboard import charts, data, drivers_view, findings, investment_view
from dashboard.reports import brief, content, pdf
from dashboard.common import (current_filters, download, filter_caption, keep_choice, require_database,
                              restore_choice)
from dashboard.labels import literal

con, info = require_database()
filters = current_filters()
st.title("Investment case")
st.caption(f"Accounts active at {info['as_of_date']:%Y-%m-%d} · {filter_caption(filters)}")

FACTORS = investment_view.factors()
restore_choice("inv_factors", investment_view.DEFAULT_FACTORS, investment_view.read_factors)
chosen = st.multiselect("Service factors to improve", FACTORS, format_func=investment_view.title, key="inv_factors")
keep_choice("inv_factors", chosen, investment_view.DEFAULT_FACTORS, investment_view.as_url)
changes = []
for factor in chosen:
    spec = investment_view.slider_spec(factor)
    key = f"inv_{factor}"
    restore_choice(key, spec["default"], investment_view.read_change(factor))
    value = st.slider(f"{investment_view.title(factor)} change ({spec['help']})", spec["min"], spec["max"],
                      step=spec["step"], format=spec["format"], key=key)
    keep_choice(key, value, spec["default"], investment_view.as_url)
    changes.append((factor, investment_view.change_text(factor, value)))
left, right = st.columns(2)
restore_choice("inv_horizon", investment_view.DEFAULT_HORIZON, investment_view.read_horizon)
horizon = left.select_slider("Horizon", options=investment_view.HORIZONS, format_func=lambda d: f"{d} days",
                             key="inv_horizon")
keep_choice("inv_horizon", horizon, investment_view.DEFAULT_HORIZON, investment_view.as_url)
restore_choice("inv_cost", None, investment_view.read_cost)
cost = right.number_input("Yearly cost of the change ($)", min_value=0.0, step=10_000.0, format="%.0f",
                          placeholder="e.g. two more agents: 150000", key="inv_cost",
                          help="What the change costs a year (people, tools). ROI and payback need it; none is "
                               "assumed.")
keep_choice("inv_cost", cost, None, investment_view.as_url)
if not changes:
    st.info("Pick at least one factor to improve.")
    st.stop()

try:
    case = content.investment_case(con, info, tuple(changes), horizon, cost, filters)
except ValueError as error:
    st.warning(str(error))
    st.stop()
result, economics, check = case.result, case.economics, case.calibration
(st.warning if check["missed"] else st.caption)(check["text"])
accounts, arr = result["accounts_kept"], result["arr_kept"]
for column, tile in zip(st.columns(5), case.tiles):
    column.metric(tile["label"], tile["value"])
    column.caption(tile["interval"])
arr_figure = charts.kept_interval("ARR kept", arr["estimate"], arr["ci_lower"], arr["ci_upper"], True,
                                  title="ARR kept: a year's revenue of the accounts kept (95% interval)")
accounts_figure = charts.kept_interval("Accounts kept", accounts["estimate"], accounts["ci_lower"],
                                       accounts["ci_upper"], False, title="Accounts kept (95% interval)")
st.plotly_chart(arr_figure, key="arr_kept")
st.plotly_chart(accounts_figure, key="accounts_kept")
if case.tail:
    st.caption(case.tail)
st.caption(case.structure_line)
for line in case.evidence:
    (st.warning if line.startswith("Overlap") else st.info)(line)
with st.expander("Robustness: overlap with the data, and each factor's estimate as its adjustment set grows"):
    st.dataframe(investment_view.overlap_table(result), hide_index=True)
    if not case.stability.empty:
        st.dataframe(drivers_view.stability_table(case.stability[case.stability.factor.isin(chosen)]),
                     hide_index=True)
with st.expander("How this is estimated, and what it leaves out"):
    st.markdown("\n".join(f"- {n}" for n in result["notes"]))

st.subheader("On the 12-month forecast")
# a forecast with and without the change is two simulations of every account: made when asked for
if st.toggle("Show the change on the forecast of active accounts", key="inv_forecast",
             help="Simulate the next 12 months of these accounts with and without the change (seconds on a large "
                  "build; the result is kept for these choices)."):
    try:
        changed, difference, without, forecast_info = data.cached_forecast_with_change(
            con, info["build_id"], tuple(changes), horizon, filters)
    except ValueError as error:
        st.info(f"No forecast with the change: {error}")
    else:
        st.markdown(literal(investment_view.forecast_change_sentence(changed, difference) or ""))
        monthly = data.cached_kpis(con, info["build_id"], filters, info["as_of_date"])[1]
        st.plotly_chart(charts.forecast_fan(
            findings.forecast_history(monthly, "active_accounts"), without, "active_accounts",
            "existing_base_accounts", (forecast_info["as_of"], forecast_info["active_accounts_at_as_of"]), False,
            title="Active accounts: the forecast with and without the change", with_change=changed),
            key="forecast_with_change")
        st.caption(investment_view.FORECAST_CHANGE_CAVEAT + " " + findings.FORECAST_INTERVALS_IN_WORDS)

cause_result = case.cause_result
if case.has_churn_reasons:
    st.subheader("By churn cause")
    if case.cause_problem:
        st.warning(case.cause_problem)
    elif cause_result is None:
        st.caption(investment_view.NO_CAUSE_MODELS)
    else:
        st.markdown(literal(investment_view.cause_sentence(cause_result)))
        st.caption(investment_view.cause_headline_line(result, cause_result))
        st.dataframe(investment_view.cause_table(cause_result), hide_index=True)
        st.caption(investment_view.cause_table_caption(cause_result))
        with st.expander("How the split by cause is estimated"):
            st.markdown("\n".join(f"- {n}" for n in investment_view.cause_notes(result, cause_result)))

summary = investment_view.summary_markdown(result, economics, changes, info["as_of_date"], filters,
                                           case.rests_on, by_cause=cause_result)
# the one-page brief to forward as it is (a CFO's inbox): made at the click, from the case on screen
if no_pdf := pdf.unavailable_reason():
    st.caption(f"Brief (PDF): {no_pdf}")
else:
    download(st, "Download the brief (PDF)", lambda: pdf.html_to_pdf(brief.investment_html(case)),
             "investment_case.pdf", mime="application/pdf", key="dl_inv_pdf", icon=":material/picture_as_pdf:")
left, middle, right = st.columns(3)
download(left, "Download the summary (Markdown)", summary.encode("utf-8"), "investment_case.md",
         mime="text/markdown", key="dl_inv_md", icon=":material/download:")
download(middle, "Download the numbers (CSV)",
         lambda: pd.DataFrame(investment_view.summary_table(result, economics, cause_result)).to_csv(
             index=False).encode("utf-8"),
         "investment_case.csv", mime="text/csv", key="dl_inv_csv", icon=":material/download:")
download(right, "Download the summary (HTML)",
         lambda: investment_view.summary_html(summary, [arr_figure, accounts_figure]).encode("utf-8"),
         "investment_case.html", mime="text/html", key="dl_inv_html", icon=":material/description:")
