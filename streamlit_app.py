"""Entry point: sign-in, routing and the shared sidebar filters. Pages live in dashboard/app_pages/."""

import streamlit as st

from dashboard import auth, data, errors, scope, sidebar

# an emoji favicon is inlined; a :material/...: one is fetched from fonts.gstatic.com (the app makes no outside requests)
st.set_page_config(page_title="Support retention", page_icon="📈", layout="wide")
with errors.reported_briefly():
    # before any page or sidebar: someone not let in sees the sign-in or refusal page and nothing else
    access = auth.gate()

    pages = [
        st.Page("dashboard/app_pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("dashboard/app_pages/survival.py", title="Survival explorer", icon=":material/show_chart:"),
        st.Page("dashboard/app_pages/drivers.py", title="Service drivers", icon=":material/support_agent:"),
        st.Page("dashboard/app_pages/investment.py", title="Investment case", icon=":material/savings:"),
        st.Page("dashboard/app_pages/evaluate.py", title="Evaluate a change", icon=":material/fact_check:"),
        st.Page("dashboard/app_pages/at_risk.py", title="At-risk accounts", icon=":material/warning:"),
        st.Page("dashboard/app_pages/data_page.py", title="Data", icon=":material/table:"),
    ]
    page = st.navigation(pages)
    con = data.connection()
    # a build of another version has no filters to offer: each page says to rebuild (the Data page can)
    if con is not None and data.schema_problem(con) is None:
        if problem := scope.scope_problem(con):
            st.error(problem)
            st.stop()
        sidebar.render(con)
    auth.sidebar_account(access)
    page.run()
