"""Investment case for support leaders: what improving a factor is worth in accounts and ARR."""

import streamlit as st

from dashboard.common import require_database

con, info = require_database()
st.title("Investment case")
st.info("The what-if model is being added to this build.")
