"""HTML to PDF, offline: WeasyPrint lays out HTML and inline SVG without a browser.

WeasyPrint needs the Pango text library from the system (Debian: libpango-1.0-0 and libpangoft2-1.0-0). Where it is
missing the app still runs; a PDF asked for says what to install instead.
"""

from __future__ import annotations

import logging
import threading

try:
    import weasyprint
    MISSING_LIBRARY: str | None = None
except OSError as error:  # the Python package is there, the system's Pango is not
    weasyprint = None
    MISSING_LIBRARY = str(error)


class PdfUnavailable(RuntimeError):
    """This machine cannot make PDFs; the message says what to install."""


# WeasyPrint does not promise that two documents can be laid out at once on two threads (its fonts go through
# fontconfig and Pango), and the app serves several people from one process: one document at a time.
_render_lock = threading.Lock()

# WeasyPrint logs every CSS property it ignores and every font it substitutes as a warning; a brief is our own HTML,
# so those are not the reader's concern
logging.getLogger("weasyprint").setLevel(logging.ERROR)
logging.getLogger("fontTools").setLevel(logging.ERROR)


def unavailable_reason() -> str | None:
    """Why this machine cannot make PDFs, with what to install; None when it can."""
    if weasyprint is not None:
        return None
    return ("PDF needs the Pango text library, which this machine lacks (" + (MISSING_LIBRARY or "") + "). On Debian "
            "or Ubuntu: apt-get install libpango-1.0-0 libpangoft2-1.0-0")


def html_to_pdf(html: str) -> bytes:
    """The PDF of a self-contained HTML document (inline SVG and CSS; it fetches nothing)."""
    if (reason := unavailable_reason()) is not None:
        raise PdfUnavailable(reason)
    assert weasyprint is not None
    with _render_lock:
        # data: URLs only: the brief carries everything inline, and a PDF made on a server must never read a file
        # or an address that a value in it might name
        fetcher = weasyprint.urls.URLFetcher(allowed_protocols={"data"}, allow_redirects=False)
        return weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf()
