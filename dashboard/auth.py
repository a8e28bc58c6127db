"""Who is looking: Streamlit's OpenID Connect sign-in (`st.login`, `st.user`) checked against the roles file.

The shared mode is on when the server was started with a roles file ($RETENTION_ROLES, which
`retention serve` sets once it has checked the file and the sign-in settings). Without one the app is
the laptop tool it always was, with no sign-in and every right, and it shows nothing when it can be
reached from beyond localhost. `current_access()` is what the data layer narrows every query by;
`gate()` is what the entry script runs first, so a page never renders for someone who is not let in.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import streamlit as st

from dashboard import audit
from pipelines.access import (  # the rights a page asks about, through this module
    AUDIT_LOG,
    LOCAL_ACCESS,
    LOCAL_ROLE,
    RAW_TABLES,
    REBUILD,
    Access,
    Roles,
    RolesError,
    load_roles,
)
from pipelines.serve import is_local_address

_LOG = logging.getLogger(__name__)
SIGNED_OUT, EXPIRED, NOT_AUTHORISED, LET_IN = "signed_out", "expired", "not_authorised", "let_in"
# what someone who must sign in (again) sees: title, text, button
SIGN_IN_PAGES = {
    SIGNED_OUT: ("Support retention", "Sign in with your company account to see the dashboard.", "Sign in"),
    EXPIRED: ("Your sign-in has expired", "Sign in again to go on.", "Sign in again"),
}


def roles_path() -> Path | None:
    value = os.environ.get("RETENTION_ROLES")
    return Path(value) if value else None


def shared_mode() -> bool:
    return roles_path() is not None


@st.cache_resource(max_entries=2, show_spinner=False)
def _roles(path: str, stamp: tuple) -> Roles:
    # keyed on the file's identity, so an edited roles file applies at everyone's next rerun; a file with an
    # error raises and is not cached, so nobody is let in until it is fixed
    # shared by every session: Roles is frozen and its tables are never changed after the file is read
    return load_roles(Path(path))


def roles() -> Roles:
    path = roles_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise RolesError(f"{path}: the roles file is gone") from None
    return _roles(str(path), (stat.st_ino, stat.st_mtime_ns, stat.st_size))


def signed_in_claims() -> dict:
    """The identity token's claims of the person signed in to this session (empty when nobody is)."""
    if not st.user.get("is_logged_in"):
        return {}
    return st.user.to_dict()


def resolve(claims: dict, roles: Roles, now: float) -> tuple[Access | None, str]:
    """(Access, LET_IN) for someone the roles file names whose token is still valid, else (None, why not)."""
    if not claims.get("is_logged_in"):
        return None, SIGNED_OUT
    # Streamlit keeps the sign-in cookie for 30 days and never looks at the token's own expiry
    expires = claims.get("exp")
    if isinstance(expires, bool) or not isinstance(expires, (int, float)) or expires <= now:
        return None, EXPIRED
    # an address the provider says it has not verified proves nothing about who this is
    email = claims.get("email") if claims.get("email_verified") is not False else None
    access = roles.lookup(email, claims.get("sub"))
    return (access, LET_IN) if access is not None else (None, NOT_AUTHORISED)


# Whom a file made on a click is made for: Streamlit serves the click on a thread without the person's session,
# so the page takes their Access when it shows the button (data.in_scope's `captured`) and the file is made as them.
_ACTING_FOR: ContextVar[Access | None] = ContextVar("acting_for", default=None)


@contextmanager
def acting_for(access: Access):
    """Within this block (on this thread only) current_access() is `access`, whatever session is current."""
    token = _ACTING_FOR.set(access)
    try:
        yield
    finally:
        _ACTING_FOR.reset(token)


def current_access() -> Access | None:
    """The Access of this session's person; None when nobody allowed is signed in (every query then refuses)."""
    if (acting := _ACTING_FOR.get()) is not None:
        return acting
    if not shared_mode():
        return LOCAL_ACCESS
    try:
        access, _ = resolve(signed_in_claims(), roles(), time.time())
    except RolesError:
        return None
    return access


def allows(permission: str) -> bool:
    access = current_access()
    return access is not None and access.allows(permission)


def gate() -> Access:
    """Let the run go on only for someone allowed in; everyone else sees a sign-in or refusal page and nothing else."""
    if not shared_mode():
        address = st.get_option("server.address") or ""
        if not is_local_address(address):
            st.error(f"This server listens on {address or 'every network interface'} without sign-in, so anyone who "
                     "can reach it would see every account. Start it with `retention serve --config deploy.toml` "
                     "(README, Shared mode), or with `make run`, which listens on localhost only.")
            st.stop()
        return LOCAL_ACCESS
    try:
        known = roles()
    except RolesError as error:
        # the details name people and lines: they go to the server's log, not to whoever opened the page
        _LOG.error("nobody is let in: %s", error)
        st.error("Nobody can be let in until the roles file is fixed; the server's log says where the error is.")
        st.stop()
    claims = signed_in_claims()
    access, verdict = resolve(claims, known, time.time())
    if verdict in (SIGNED_OUT, EXPIRED):
        title, text, label = SIGN_IN_PAGES[verdict]
        st.title(title)
        st.write(text)
        if st.button(label, type="primary", key="sign_in"):
            st.login()
        st.stop()
    if verdict == NOT_AUTHORISED:
        audit.record_sign_in_once(audit.log_path(), claims, None)
        st.title("Not authorised")
        st.write(f"{claims.get('email') or claims.get('sub')} is signed in, but is not authorised to see this "
                 f"dashboard. Ask its admin to add you to the roles file (your sub is `{claims.get('sub')}`).")
        if st.button("Sign out", key="sign_out"):
            st.logout()
        st.stop()
    audit.record_sign_in_once(audit.log_path(), claims, access)
    return access


def sidebar_account(access: Access) -> None:
    """Who is signed in, their role and scope, and the way out."""
    if access.role == LOCAL_ROLE:
        return
    st.sidebar.caption(f"Signed in as {access.who} · {access.describe()}")
    if st.sidebar.button("Sign out", key="sign_out", icon=":material/logout:"):
        st.logout()
