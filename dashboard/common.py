"""What every page shares: the open build (or a helpful stop), the global filters, downloads."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import pandas as pd
import streamlit as st

from dashboard import audit, auth, data, scope
from dashboard.labels import filters_in_words
from pipelines.access import ACCOUNT_DOWNLOADS, AGGREGATE_DOWNLOADS

FILTER_STATE = "global_filters"


def require_database() -> tuple:
    """(connection, build_info) of the current build; without one, or with one another version of the tool built,
    say how to make it and stop the page."""
    con = data.connection()
    if con is None:
        path = data.database_path()
        st.info(
            f"No database at `{path}` yet. Run `make run` to build the demo and open the app, or build your own:\n\n"
            "```\nretention build --accounts accounts.csv --interactions interactions.csv --db "
            f"{path}\n```\n\nThe **Data** page can also build one from uploaded files."
        )
        st.stop()
    if problem := data.schema_problem(con):
        st.error(problem)
        st.stop()
    return con, data.build_info(con)


def current_filters() -> tuple[str, ...]:
    """The person's scope, then the sidebar's filters: what every caption, report and export names."""
    return scope.scoped(tuple(st.session_state.get(FILTER_STATE, ())))


def filter_caption(filters: tuple[str, ...]) -> str:
    return "Filters: " + ", ".join(filters_in_words(filters)) if filters else "All accounts"


def csv_download(frame: pd.DataFrame, label: str, file_name: str, key: str) -> None:
    download(st, label, lambda: frame.to_csv(index=False).encode("utf-8"), file_name, "text/csv", key=key,
             rows=len(frame))


# st.dataframe's default row height in pixels; its header row is as tall, and its border adds a few
DATAFRAME_ROW_PX, DATAFRAME_BORDER_PX = 35, 3


def dataframe_height(rows: int) -> int:
    """The height at which st.dataframe shows `rows` whole rows under its header: its default height stops
    part-way through a row, which reads as a row cut off."""
    return DATAFRAME_ROW_PX * (rows + 1) + DATAFRAME_BORDER_PX


def _csv_rows(content: bytes) -> int:
    return max(sum(1 for _ in csv.reader(io.StringIO(content.decode("utf-8")))) - 1, 0)


class Capturable(Protocol):
    """A query function of the data layer that makes a file, made by scope.in_scope: call it now, or `.captured`
    it to run later."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

    def captured(self, *args: Any, **kwargs: Any) -> Callable[[], bytes | str]: ...


@dataclass(frozen=True)
class MadeOnClick:
    """A file made when its button is clicked rather than on every run of the page: `make` is a query function of
    the data layer with `.captured` (see scope.in_scope), whose scope and permission apply now, in the person's
    session, since the click is served where no session is there to ask. For files too large to make on every run
    (every scored account of a large book is hundreds of megabytes)."""

    make: Capturable
    args: tuple


def download(container, label: str, content: bytes | str | Callable[[], bytes | str] | MadeOnClick, file_name: str,
             mime: str, key: str, icon: str = ":material/download:", rows: int | None = None,
             lists_accounts: bool = False) -> None:
    """A download button in `container`, for a role allowed this kind of file; the audit log records each download.

    The click runs `deliver`, which checks the person again, makes the file and writes the log line, so one
    download is one line. `content` is the bytes, a function that makes them from what the page already holds
    (pure: it runs at the click, on a thread without the session, so a rerun does not pay for a file nobody
    asked for, and a role that may not have it never has it made), or MadeOnClick for a file the data layer
    makes as the person (see MadeOnClick).
    """
    access = auth.current_access()
    permission = ACCOUNT_DOWNLOADS if lists_accounts else AGGREGATE_DOWNLOADS
    if access is None or not access.allows(permission):
        kind = "files that list accounts are" if lists_accounts else "downloads are"
        container.caption(f"{label.split(' (')[0]}: {kind} not part of the {access.role.replace('_', ' ')} role."
                          if access else f"{label.split(' (')[0]}: nobody is signed in.")
        return
    if isinstance(content, MadeOnClick):
        make = content.make.captured(*content.args)
    elif callable(content):
        make = content
    else:
        make = lambda: content  # noqa: E731
    log, filters = audit.log_path(), current_filters()
    claims = auth.signed_in_claims() if auth.shared_mode() else {}

    def deliver() -> bytes:
        # the click may come long after the page was shown: whoever has since been removed, signed out or expired
        # gets no file (the button says the file could not be made; the server's log says why)
        auth.check_still_allowed(claims, access, permission)
        file = make()
        file = file.encode("utf-8") if isinstance(file, str) else file
        counted = rows if rows is not None or mime != "text/csv" else _csv_rows(file)
        audit.record_export(log, access, file_name, filters, counted)
        auth.made_for(claims, file_name, file)
        return file

    # no rerun on a click: a rerun would register new file ids while the browser may still hold the old ones
    container.download_button(label, deliver, file_name=file_name, mime=mime, key=key, icon=icon, on_click="ignore")


# --- page choices that travel: across pages in the session, and in the URL --------------------------------------

KEPT_PREFIX = "kept:"


def restore_choice(key: str, default, read: Callable[[list[str]], object], options: list | None = None) -> None:
    """Before a page widget keyed `key` is drawn: give it its value from the URL (a shared link), else from the
    last time this session drew it (Streamlit forgets a widget's value when another page is shown), else
    `default`. `read` turns the URL's texts into a value, raising ValueError for one it cannot use (then the
    default stands). With `options`, a value no longer among them (the choices changed with the filters) is
    dropped. Draw the widget without a value of its own, then call keep_choice."""
    if options is not None:
        for stale in (key, KEPT_PREFIX + key):
            if stale in st.session_state and st.session_state[stale] not in options:
                del st.session_state[stale]
    if key in st.session_state:
        return
    value = st.session_state.get(KEPT_PREFIX + key, default)
    if key in st.query_params:
        try:
            value = read(st.query_params.get_all(key))
        except (ValueError, TypeError):
            value = default
    st.session_state[key] = value


def keep_choice(key: str, value, default, write: Callable[[Any], list[str]]) -> None:  # write takes the widget's value
    """After the widget: remember its value for this session and put it in the URL (left out while default)."""
    st.session_state[KEPT_PREFIX + key] = value
    if value == default:
        if key in st.query_params:
            del st.query_params[key]
    else:
        st.query_params[key] = write(value)
