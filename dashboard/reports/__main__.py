"""`python -m dashboard.reports report …` and `… digest …`: what `retention report` and `retention digest` run."""

import sys

import streamlit.logger

# the data layer's caches work without a running app, and Streamlit warns so for each one: not news on the command line
streamlit.logger.set_log_level("ERROR")

from dashboard.reports.command import main  # noqa: E402  (the level must be set before the data layer is imported)

sys.exit(main())
