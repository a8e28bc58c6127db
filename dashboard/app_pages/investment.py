"""Investment case for support leaders: what improving a factor is worth in accounts and ARR."""

import pandas as pd
import streamlit as st

from dashboard import charts, data, drivers_view, investment_view
from dashboard.common import current_filters, download, filter_caption, require_database

con, info = require_database()
filters = current_filters()
st.title("Investment case")
st.caption(f"Accounts active at {info['as_of_date']:%Y-%m-%d} · {filter_caption(filters)}")

chosen = st.multiselect("Service factors to improve", investment_view.factors(), default=["first_response_hours"],
                        format_func=investment_view.title, key="inv_factors")
changes = []
for factor in chosen:
    spec = investment_view.slider_spec(factor)
    value = st.slider(f"{investment_view.title(factor)} change ({spec['help']})", spec["min"], spec["max"],
                      spec["default"], spec["step"], key=f"inv_{factor}")
    changes.append((factor, investment_view.change_text(factor, value)))
left, right = st.columns(2)
horizon = left.select_slider("Horizon", options=[90, 180, 365, 730], value=365, format_func=lambda d: f"{d} days",
                             key="inv_horizon")
cost = right.number_input("Yearly cost of the change ($)", min_value=0.0, value=250_000.0, step=10_000.0,
                          key="inv_cost")
if not changes:
    st.info("Pick at least one factor to improve.")
    st.stop()

try:
    result = data.cached_whatif(con, info["build_id"], tuple(changes), horizon, filters)
except ValueError as error:
    st.warning(str(error))
    st.stop()
economics = investment_view.roi(result, cost)
check = investment_view.calibration_check(result)
(st.warning if check["missed"] else st.caption)(check["text"])
accounts, arr = result["accounts_kept"], result["arr_kept"]
a, b, c, d = st.columns(4)
a.metric("Accounts kept", f"{accounts['estimate']:,.1f}",
         help=f"95% interval {accounts['ci_lower']:,.1f} to {accounts['ci_upper']:,.1f}")
b.metric("ARR kept", charts.money(arr["estimate"]),
         help=f"95% interval {charts.money(arr['ci_lower'])} to {charts.money(arr['ci_upper'])}")
c.metric("ROI", "—" if economics["roi_estimate"] is None else f"{economics['roi_estimate']:.0%}")
d.metric("Payback", "—" if economics["payback_months_estimate"] is None
         else f"{economics['payback_months_estimate']:.1f} months")
arr_figure = charts.kept_interval("ARR kept", arr["estimate"], arr["ci_lower"], arr["ci_upper"], True,
                                  title="ARR kept over the horizon (95% interval)")
accounts_figure = charts.kept_interval("Accounts kept", accounts["estimate"], accounts["ci_lower"],
                                       accounts["ci_upper"], False, title="Accounts kept (95% interval)")
st.plotly_chart(arr_figure, key="arr_kept")
st.plotly_chart(accounts_figure, key="accounts_kept")
own_effects, stability = data.cached_factor_effects(con, info["build_id"])
evidence = investment_view.evidence_lines(result, own_effects)
tail = investment_view.tail_line(result)
if tail:
    st.caption(tail)
for line in evidence:
    (st.warning if line.startswith("Overlap") else st.info)(line)
with st.expander("Robustness: overlap with the data, and each factor's estimate as its adjustment set grows"):
    st.dataframe(investment_view.overlap_table(result), hide_index=True)
    if not stability.empty:
        st.dataframe(drivers_view.stability_table(stability[stability.factor.isin(chosen)]), hide_index=True)
with st.expander("How this is estimated, and what it leaves out"):
    st.markdown("\n".join(f"- {n}" for n in result["notes"]))

summary = investment_view.summary_markdown(result, economics, changes, info["as_of_date"], filters,
                                           [check["text"], *evidence, *([tail] if tail else [])])
left, middle, right = st.columns(3)
download(left, "Download the summary (Markdown)", summary.encode("utf-8"), "investment_case.md",
         mime="text/markdown", key="dl_inv_md", icon=":material/download:")
download(middle, "Download the numbers (CSV)",
         lambda: pd.DataFrame(investment_view.summary_table(result, economics)).to_csv(index=False).encode("utf-8"),
         "investment_case.csv", mime="text/csv", key="dl_inv_csv", icon=":material/download:")
download(right, "Download the summary (HTML)",
         lambda: investment_view.summary_html(summary, [arr_figure, accounts_figure]).encode("utf-8"),
         "investment_case.html", mime="text/html", key="dl_inv_html", icon=":material/description:")
