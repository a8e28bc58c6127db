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

from pipelines.access import AccessChanged

_APP_LOG = logging.getLogger("retention")
if not _APP_LOG.handlers:  # Streamlit configures its own loggers only; ours write to the server's log the same way
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    _APP_LOG.addHandler(_handler)
    _APP_LOG.setLevel(logging.INFO)
    _APP_LOG.propagate = False
_LOG = logging.getLogger("retention.app")


class _RefusedDownloadsBriefly(logging.Filter):
    """A download refused at its click (auth.AccessChanged) is a decision, not a failure: Streamlit logs the
    callable's exception with its traceback; this keeps one line saying who was refused and why."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        while error is not None and not isinstance(error, AccessChanged):
            error = error.__cause__
        if error is not None:
            record.msg, record.args, record.exc_info, record.exc_text = f"download refused: {error}", (), None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


# where Streamlit logs a download's callable that raised
logging.getLogger("streamlit.runtime.backend_operation_handler").addFilter(_RefusedDownloadsBriefly())

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
    except AccessChanged as change:
        # the person was let in when the run started and is no longer (signed out in another tab, expired, removed
        # from the roles file): not a failure, and their next run shows them the sign-in or refusal page
        _LOG.info("a page run ended early: %s", change)
        st.info("Your access changed while this page was being shown. Reload the page to go on.")
    except Exception:  # noqa: BLE001 - every error a page did not plan for ends here
        error_id = new_error_id()
        _LOG.exception("page error %s", error_id)
        st.error(page_error_message(error_id), icon=":material/error:")
