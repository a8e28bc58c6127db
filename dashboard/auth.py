"""Who is looking: Streamlit's OpenID Connect sign-in (`st.login`, `st.user`) checked against the roles file.

The shared mode is on when the server was started with a roles file ($RETENTION_ROLES, which
`retention serve` sets once it has checked the file and the sign-in settings). Without one the app is
the laptop tool it always was, with no sign-in and every right, and it shows nothing when it can be
reached from beyond localhost. `current_access()` is what the data layer narrows every query by;
`gate()` is what the entry script runs first, so a page never renders for someone who is not let in.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import streamlit as st
from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dashboard import audit
from pipelines.access import (  # the rights a page asks about, through this module
    AUDIT_LOG,
    LOCAL_ACCESS,
    LOCAL_ROLE,
    RAW_TABLES,
    REBUILD,
    AccessChanged,
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
    if path is None:  # callers ask only in the shared mode, which is RETENTION_ROLES being set
        raise RolesError("no roles file: RETENTION_ROLES is not set")
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


def verified_email(claims: dict) -> str | None:
    """The e-mail address, when the provider says in so many words (a true boolean) that it verified it.

    An address the provider has not verified proves nothing about who this is: anyone may type any address into
    an account at many providers. Some providers (Entra ID among them) send no such claim: list their people by sub.
    """
    email = claims.get("email")
    return email if isinstance(email, str) and claims.get("email_verified") is True else None


def unverified_email(claims: dict) -> str | None:
    """The e-mail claim when it is there but not verified (see verified_email), as text: a claim, never a name."""
    email = claims.get("email")
    return None if email is None or verified_email(claims) else str(email)


def named(claims: dict) -> str:
    """How the person is named in the log and on the refusal page: their verified e-mail address, else their sub."""
    return verified_email(claims) or str(claims.get("sub"))


def resolve(claims: dict, roles: Roles, now: float, signed_out: bool = False) -> tuple[Access | None, str]:
    """(Access, LET_IN) for someone the roles file names whose token is still valid, else (None, why not).
    `signed_out`: this token was signed out (on this server, in any tab), so it is let in no more."""
    if not claims.get("is_logged_in") or signed_out:
        return None, SIGNED_OUT
    # Streamlit keeps the sign-in cookie for 30 days and never looks at the token's own expiry
    expires = claims.get("exp")
    if isinstance(expires, bool) or not isinstance(expires, (int, float)) or expires <= now:
        return None, EXPIRED
    access = roles.lookup(verified_email(claims), claims.get("sub"))
    return (access, LET_IN) if access is not None else (None, NOT_AUTHORISED)


def resolve_now(claims: dict) -> tuple[Access | None, str]:
    """resolve() against the roles file as it is now, the clock, and the sign-outs; a broken roles file lets
    nobody in (RolesError)."""
    return resolve(claims, roles(), time.time(), audit.is_signed_out(audit.log_path(), claims))


def check_still_allowed(claims: dict, shown_to: Access, permission: str) -> None:
    """At a click: raise AccessChanged unless the person the page was shown to is still let in as they were, with
    `permission`. The click may come long after the page: the roles file, the clock and sign-outs are read now."""
    if not shared_mode():
        return
    try:
        access, verdict = resolve_now(claims)
    except RolesError:
        raise AccessChanged("nobody is let in until the roles file is fixed") from None
    if access is None:
        raise AccessChanged(f"{named(claims)} is no longer let in ({verdict.replace('_', ' ')})")
    if access != shown_to or not access.allows(permission):
        raise AccessChanged(f"the access of {named(claims)} changed since the page was shown; reload it")


# Whom a file made on a click is made for: Streamlit serves the click on a thread without the person's session,
# so the page takes their Access when it shows the button (scope.in_scope's `captured`) and the file is made as them.
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
        access, _ = resolve_now(signed_in_claims())
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
    claims = signed_in_claims()
    try:
        access, verdict = resolve_now(claims)
    except RolesError as error:
        # the details name people and lines: they go to the server's log, not to whoever opened the page
        _LOG.error("nobody is let in: %s", error)
        st.error("Nobody can be let in until the roles file is fixed; the server's log says where the error is.")
        st.stop()
    if verdict in (SIGNED_OUT, EXPIRED):
        title, text, label = SIGN_IN_PAGES[verdict]
        st.title(title)
        st.write(text)
        if st.button(label, type="primary", key="sign_in"):
            st.login()
        st.stop()
    if verdict == NOT_AUTHORISED or access is None:  # resolve gives no Access exactly when it refuses
        audit.record_sign_in_once(audit.log_path(), claims, None, named(claims), unverified_email(claims))
        st.title("Not authorised")
        # the claims are whatever the provider's account holder typed: shown as plain text, never as Markdown
        unverified = "" if not unverified_email(claims) else (
            " Your provider did not say it verified your e-mail address, so the address cannot be used to let you "
            "in; the admin can list you by your sub.")
        st.text(f"You are signed in, but you are not authorised to see this dashboard.{unverified} Ask its admin to "
                f"add you to the roles file; your sub is: {claims.get('sub')}")
        if st.button("Sign out", key="sign_out"):
            st.logout()
        st.stop()
    audit.record_sign_in_once(audit.log_path(), claims, access, named(claims), unverified_email(claims))
    _remember_session(claims)
    return access


# The sessions each sign-in has open, so that a sign-out ends all of them: every session's thread adds to it and the
# server's thread reads it at a sign-out, one at a time.
_sessions_lock = threading.Lock()
_sessions_by_token: dict[str, set[str]] = defaultdict(set)


def _remember_session(claims: dict) -> None:
    context = get_script_run_ctx()
    if context is None:
        return
    key = audit.token_key(claims)
    with _sessions_lock:
        sessions = _sessions_by_token[key]
        if context.session_id not in sessions and runtime.exists():
            # a long-lived server sees many sessions come and go: forget the ones that are gone as new ones come
            sessions -= {s for s in sessions if runtime.get_instance().get_app_session(s) is None}
            for other in [k for k, ids in _sessions_by_token.items() if not ids and k != key]:
                del _sessions_by_token[other]
        sessions.add(context.session_id)


def sign_out_everywhere(claims: dict) -> int:
    """This sign-in's token is let in nowhere again (recorded in the audit log, so also after a restart), and
    every session it has open on this server is shown the sign-in page at once; returns how many were open."""
    audit.record_sign_out(audit.log_path(), claims, named(claims))
    with _sessions_lock:
        session_ids = _sessions_by_token.pop(audit.token_key(claims), set())
    if not runtime.exists():
        return 0
    ended = 0
    for session_id in session_ids:
        session = runtime.get_instance().get_app_session(session_id)
        if session is None:
            continue
        runtime.get_instance().clear_user_info_for_session(session_id)
        session.request_rerun(None)  # the run's gate now finds nobody signed in and shows the sign-in page
        ended += 1
    return ended


def sidebar_account(access: Access) -> None:
    """Who is signed in, their role and scope, and the way out."""
    if access.role == LOCAL_ROLE:
        return
    st.sidebar.caption(f"Signed in as {access.who} · {access.describe()}")
    if st.sidebar.button("Sign out", key="sign_out", icon=":material/logout:"):
        st.logout()  # the browser is sent to the sign-out, which ends this sign-in everywhere (server_guard)
        st.stop()


# Files made on a click, by whom they may be fetched: Streamlit serves a download at a URL of its own, which the
# shared server (dashboard.shared_server) hands only to the sign-in it was made for, in the minutes after the click
# (the browser fetches it more than once). Every session's click thread adds to it and the server's thread reads
# it, one at a time.
HANDOVER_SECONDS = 120.0
_handover_lock = threading.Lock()
_handovers: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)


def _content_key(file_name: str, content: bytes) -> tuple[str, str]:
    return file_name, hashlib.sha256(content).hexdigest()


def made_for(claims: dict, file_name: str, content: bytes) -> None:
    """Record that this file was just made, on a click, for this sign-in."""
    if not shared_mode():
        return
    now = time.monotonic()
    with _handover_lock:
        for key in [k for k, holders in _handovers.items() if max(holders.values()) < now - HANDOVER_SECONDS]:
            del _handovers[key]
        _handovers[_content_key(file_name, content)][audit.token_key(claims)] = now


def may_fetch(claims: dict, file_name: str, content: bytes) -> bool:
    """Whether this sign-in may fetch this file now: it was made for them on a click in the last minutes."""
    with _handover_lock:
        made_at = _handovers.get(_content_key(file_name, content), {}).get(audit.token_key(claims))
    return made_at is not None and time.monotonic() - made_at < HANDOVER_SECONDS
