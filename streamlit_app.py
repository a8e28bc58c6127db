"""Entry point: routing only. Pages live in dashboard/app_pages/."""

import streamlit as st

pages = [
    st.Page("dashboard/app_pages/data_page.py", title="Data", icon=":material/table:", default=True),
]
st.set_page_config(page_title="Support retention", layout="wide")
st.navigation(pages).run()
