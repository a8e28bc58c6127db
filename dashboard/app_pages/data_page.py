"""Data page: what was loaded, what was rejected and why."""

import streamlit as st

from dashboard.data import database_path, open_database, read_query

path = database_path()
con = open_database(path)
st.title("Data")
if con is None:
    st.info(
        f"No database at `{path}` yet. Build the demo with `make run`, or your own with "
        "`retention build --accounts accounts.csv --interactions interactions.csv`."
    )
    st.stop()

summary = read_query(con, "build_summary").iloc[0]
st.caption(f"Build {summary.build_id[:8]} · as-of {summary.as_of_date:%Y-%m-%d} · revenue basis: {summary.revenue_basis}")
st.subheader("Load report")
st.dataframe(read_query(con, "load_report"), hide_index=True)
st.subheader("Rejected rows and values")
st.dataframe(read_query(con, "rejected_rows"), hide_index=True)
