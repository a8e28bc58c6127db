"""What a person sees when a page fails in a way nobody planned for: a short message with an error id.

The traceback, which names the server's files and may quote data, goes to the server's log under the same id, so
an admin finds it from what the person reports. Streamlit's own stop and rerun are not errors: they are
BaseExceptions and pass through.
"""

from __future__ import annotations

import logging
import secrets
import sys
from contextlib import contextmanager

import streamlit as st

_LOG = logging.getLogger("retention.app")
if not _LOG.handlers:  # Streamlit configures its own loggers only; ours writes to the server's log the same way
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    _LOG.addHandler(_handler)
    _LOG.propagate = False

ERROR_ID_TEXT = "error id"


def new_error_id() -> str:
    return secrets.token_hex(4)


def page_error_message(error_id: str) -> str:
    return (f"Something went wrong while showing this page. Reload it to try again; if it happens again, give "
            f"your admin the {ERROR_ID_TEXT} {error_id}, which the server's log records with the details.")


@contextmanager
def reported_briefly():
    """Run a page: an unexpected error is logged with its traceback and an id, and the page shows the id only."""
    try:
        yield
    except Exception:  # noqa: BLE001 - every error a page did not plan for ends here
        error_id = new_error_id()
        _LOG.exception("page error %s", error_id)
        st.error(page_error_message(error_id), icon=":material/error:")
