"""At-risk accounts: who is likely to churn in the next 90 days, and why."""

import streamlit as st

from dashboard.common import require_database

con, info = require_database()
st.title("At-risk accounts")
st.info("The risk model is being added to this build.")
