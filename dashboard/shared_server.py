"""The shared server: the app of `streamlit_app.py` behind the checks a signed-in team needs (server_guard).

`retention serve` runs this file (`streamlit run dashboard/shared_server.py`) when sign-in is configured: Streamlit
finds `app` here and serves it, with the guard's middleware seeing every request before Streamlit does.
"""

from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware

from dashboard.server_guard import SharedModeGuard

app = st.App(Path(__file__).resolve().parent.parent / "streamlit_app.py", middleware=[Middleware(SharedModeGuard)])
