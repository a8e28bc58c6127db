"""Who may see what in the app's data: the scope of a signed-in person's accounts, and the permissions, enforced.

What is enforced here, and how (a security review reads this file):

- **The scope is in every query.** A person's scope (a csm's book: filter texts from the roles file, empty for a
  role that sees every account and on the laptop) is put before the filters they chose and ANDed with them, so a
  filter from the browser can narrow the scope, never widen it (`scoped`). Every query function of `dashboard.data`
  that takes filters is wrapped by `in_scope`, so the scope reaches the SQL of every query as bound predicates.
- **The scope is in every cached result's key.** `in_scope` is applied outside Streamlit's cache, so the narrowed
  filters are part of the key: no cached result crosses from one person to another.
- **Permissions are checked at call time.** A query reading raw tables or listing accounts is wrapped by `requires`,
  which refuses a role without the permission before any cache is read.
- **A download is checked again at its click.** A file made when its button is clicked (`captured`) takes the
  scope and the permission in the person's session when the page is shown, and runs as that person later; the
  click itself (dashboard.common.download) checks that the person is still signed in and allowed before the file
  is made.
- **A scope that does not fit the build stops the app** (`scope_problem`), rather than showing unscoped data.

Who is signed in and which role they have is dashboard.auth's; the requests Streamlit answers without a page are
dashboard.server_guard's.
"""

from __future__ import annotations

import inspect
import threading
from functools import wraps
from typing import Callable

import duckdb

from dashboard import auth
from pipelines.filters import FilterError, filterable_columns, parse_filters

Filters = tuple[str, ...]


def scope() -> Filters:
    """The signed-in person's scope as filter texts: empty for a role that sees every account, and on the laptop."""
    access = auth.current_access()
    if access is None:  # let in at the run's start, no longer: signed out, expired or removed meanwhile
        raise auth.AccessChanged("nobody who is allowed in is signed in to this session")
    return access.scope


def scoped(filters: Filters) -> Filters:
    """The scope, then the person's own filters: they are ANDed, so a filter can narrow the scope, never widen it."""
    own = scope()
    return own + tuple(f for f in filters if f not in own)


def in_scope(function):
    """Narrow the `filters` argument by the scope before `function` runs. Applied outermost, so on a cached
    query the scope is part of the cache key: no cached result crosses from one person to another."""
    signature = inspect.signature(function)

    def bound_in_scope(args, kwargs) -> inspect.BoundArguments:
        bound = signature.bind(*args, **kwargs)
        bound.arguments["filters"] = scoped(tuple(bound.arguments["filters"]))
        return bound

    @wraps(function)
    def narrowed(*args, **kwargs):
        bound = bound_in_scope(args, kwargs)
        return function(*bound.args, **bound.kwargs)

    def captured(*args, **kwargs) -> Callable[[], object]:
        """`function` with the scope applied now, in the person's session, to run later from any thread as that
        person: a download made when it is clicked runs where no session is there to ask."""
        access = auth.current_access()
        bound = bound_in_scope(args, kwargs)
        # the click is served on another thread, maybe while this session's next run uses the thread's cursor: the
        # file is made on a cursor of its own (made here, where the session's cursor is not in use), and two clicks
        # of one button take turns on it
        for name, value in bound.arguments.items():
            if isinstance(value, duckdb.DuckDBPyConnection):
                bound.arguments[name] = value.cursor()
        turn = threading.Lock()

        def run():
            with turn, auth.acting_for(access):
                return function(*bound.args, **bound.kwargs)
        return run

    narrowed.captured = captured
    return narrowed


def requires(permission: str):
    """Refuse `function` to a role without `permission` (checked before any cache is read)."""
    def decorate(function):
        def check() -> None:
            if not auth.allows(permission):
                raise PermissionError(f"this role may not read {permission.replace('_', ' ')}")

        @wraps(function)
        def checked(*args, **kwargs):
            check()
            return function(*args, **kwargs)

        if hasattr(function, "captured"):  # an in_scope function: checked now, run later (see in_scope)
            def captured(*args, **kwargs) -> Callable[[], object]:
                check()
                return function.captured(*args, **kwargs)
            checked.captured = captured
        return checked
    return decorate


def scope_problem(con: duckdb.DuckDBPyConnection) -> str | None:
    """Why the person's scope cannot be applied to this build (it names a column the build lacks), or None."""
    own = scope()
    if not own:
        return None
    try:
        parse_filters(list(own), filterable_columns(con))
    except FilterError as error:
        return f"Your scope ({', '.join(own)}) does not fit this build: {error}. Ask an admin to fix the roles file."
    return None


def risk_scope_note() -> str | None:
    """Why a scoped person sees the risk model of every account (None when nothing is scoped)."""
    if not scope():
        return None
    return ("The risk model and its calibration chart are fitted on every account of the build: one book has too "
            "few churns to fit its own, and one model keeps scores comparable across books. The list, the totals "
            "and the download hold only your accounts.")
