"""At-risk accounts: who is likely to churn in the next 90 days, what it would cost, and why."""

import streamlit as st

from dashboard import at_risk_view, calibration_view, charts, data, scope
from dashboard.common import (MadeOnClick, current_filters, dataframe_height, download, filter_caption,
                              require_database)

TABLE_ROWS = 15  # rows in view at once; the slider's further rows scroll inside the table

con, info = require_database()
filters = current_filters()
st.title("At-risk accounts")
st.caption(f"Chance of churning in the 90 days after {info['as_of_date']:%Y-%m-%d} · {filter_caption(filters)}")

totals, risk, calibration, model = data.cached_risk(con, info["build_id"], filters)
if risk.empty:
    reason = (model or {}).get("error") or "no active accounts match the filters"
    st.info(f"No risk scores to show: {reason}")
    st.stop()

checks = calibration_view.overall_checks(calibration)
for check in checks:
    (st.warning if check["missed"] else st.caption)(check["text"])
if not checks:
    st.caption(calibration_view.NO_CHECK)
a, b, c = st.columns(3)
a.metric("Active accounts scored", f"{totals['accounts_scored']:,}")
b.metric("Expected churns in 90 days", f"{totals['expected_churns_90d']:,.0f}")
c.metric("ARR at risk", charts.money(totals["arr_at_risk"]),
         help="Σ probability × 12 × MRR over the scored accounts")
top = st.slider("Show the riskiest", 10, len(risk), min(50, len(risk)), 10, key="risk_top") if len(risk) > 10 \
    else len(risk)
causes, cause_rows = data.cached_cause_risk(con, info["build_id"], filters)
risk = at_risk_view.with_cause_columns(risk, cause_rows, causes)
by_cause = at_risk_view.cause_labels(causes)
columns = ["risk_rank", "account_id", "churn_probability_90d", *by_cause, "top_factor_1", "top_factor_2",
           "arr_at_risk", "arr", "tenure_days"]
if sentence := at_risk_view.cause_split_sentence(risk, causes):
    st.write(sentence)
# the table takes the page's width so the reasons stay in view beside the chance, and shows whole rows only
st.dataframe(risk[[c for c in columns if c in risk.columns]].head(top), hide_index=True,
             height=dataframe_height(min(top, TABLE_ROWS)),
             column_config={"risk_rank": st.column_config.NumberColumn("Rank", width=50),
                            "account_id": st.column_config.TextColumn("Account", width=85),
                            "churn_probability_90d": st.column_config.NumberColumn("Churn chance, 90 days",
                                                                                   format="percent", width=140),
                            **{column: st.column_config.NumberColumn(label, format="percent", width=140, help=label)
                               for column, label in by_cause.items()},
                            "top_factor_1": st.column_config.TextColumn("Why, first", width=250),
                            "top_factor_2": st.column_config.TextColumn("Why, second", width=250),
                            "arr_at_risk": st.column_config.NumberColumn("ARR at risk", format="dollar", step=1, width=95),
                            "arr": st.column_config.NumberColumn("ARR", format="dollar", step=1, width=95),
                            "tenure_days": st.column_config.NumberColumn("Customer for (days)", format="%d")})
st.caption("Top factors compare each account with a typical one in the model; they are associations, not causes.")
if caption := at_risk_view.cause_caption(causes):
    st.caption(caption)
left, right = st.columns([3, 2])
left.plotly_chart(charts.calibration(calibration_view.risk_deciles(calibration), calibration_view.RISK_HORIZON_DAYS),
                  key="calibration")
if caption := calibration_view.concordance_caption(calibration):
    right.caption(caption)
if note := scope.risk_scope_note():
    st.caption(note)
download(st, "Download all scored accounts (CSV)", MadeOnClick(data.risk_csv, (con, filters)),
         file_name="account_risk.csv", mime="text/csv", key="dl_risk", rows=totals["accounts_scored"],
         lists_accounts=True)
