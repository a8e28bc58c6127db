"""What every page shares: the open build (or a helpful stop), the global filters, CSV downloads."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from dashboard import data

FILTER_STATE = "global_filters"


def require_database() -> tuple:
    """(connection, build_info) of the current build; without one, say how to make it and stop the page."""
    con = data.connection()
    if con is None:
        path = data.database_path()
        st.info(
            f"No database at `{path}` yet. Run `make run` to build the demo and open the app, or build your own:\n\n"
            "```\nretention build --accounts accounts.csv --interactions interactions.csv --db "
            f"{path}\n```\n\nThe **Data** page can also build one from uploaded files."
        )
        st.stop()
    return con, data.build_info(con)


def current_filters() -> tuple[str, ...]:
    return tuple(st.session_state.get(FILTER_STATE, ()))


def filter_caption(filters: tuple[str, ...]) -> str:
    return "Filters: " + ", ".join(filters) if filters else "All accounts"


def csv_download(frame: pd.DataFrame, label: str, file_name: str, key: str) -> None:
    st.download_button(label, frame.to_csv(index=False).encode("utf-8"), file_name=file_name, mime="text/csv",
                       key=key, icon=":material/download:")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "export"
