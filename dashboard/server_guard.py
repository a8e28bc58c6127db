"""The checks Streamlit's routes do not make for a signed-in team: ASGI middleware in front of every request.

The shared server (dashboard/shared_server.py) puts it in front of Streamlit's own routes. Streamlit checks who
someone is only where a page runs; the side doors below are answered without a page:

  /media/...             a file a download button made is served only to the sign-in it was made for, in the
                         minutes after the click (anyone else, and anyone later, gets 404); no other media is served
  /_stcore/upload_file   only to someone whose role may rebuild
  /_stcore/metrics,      closed: cache names and session counts, and an API that drives the app without a page
  /_stcore/agent/...
  /auth/logout           only from the app's own pages (a page elsewhere cannot sign anyone out), and it ends every
                         session of that sign-in on this server, and the sign-in itself, for good
  /_stcore/stream        the websocket: a message beyond rerunning a page is dropped unless the sign-in may do it
                         (nobody clears the server's caches from a browser; only a rebuild role asks for uploads)

Every answer also carries headers that keep the app out of other sites' frames and keep its URLs out of referrers;
behind HTTPS (`retention serve` sets $RETENTION_HTTPS when the redirect URI is https), every cookie is marked
Secure (Streamlit sets them without it) and browsers are told to use HTTPS only (HSTS).
"""

from __future__ import annotations

import json
import logging
import os
from http.cookies import SimpleCookie

from streamlit import config, runtime
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.web.server.starlette.starlette_server_config import USER_COOKIE_NAME
from streamlit.web.server.starlette.starlette_websocket import _get_signed_cookie_with_chunks

from dashboard import auth, errors  # noqa: F401 - errors sets up the log that this module writes to
from pipelines.access import REBUILD, Access, RolesError
from pipelines.serve import ENV_HTTPS

_LOG = logging.getLogger("retention.server_guard")

# What a browser may ask for over the websocket, beyond a run of a page (which passes the sign-in gate itself).
ALWAYS_ALLOWED = {"rerun_script", "app_heartbeat", "stop_script"}
# backend operations of a signed-in person's page: a download made on click, a large table's next rows
SIGNED_IN_OPERATIONS = {"deferred_file", "dataframe_chunk"}
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
HTTPS_ONLY = [(b"strict-transport-security", b"max-age=31536000")]
CLOSED_PATHS = ("_stcore/metrics", "_stcore/agent/")


def behind_https() -> bool:
    return os.environ.get(ENV_HTTPS) == "1"


def hardened(headers: list, path: str) -> list:
    """A response's headers with the security headers set (replacing any of the same name), and behind HTTPS
    every cookie marked Secure."""
    https = behind_https()
    added = SECURITY_HEADERS + (HTTPS_ONLY if https else []) + (
        [(b"cache-control", b"no-store")] if path.startswith("media/") else [])
    names = {name for name, _ in added}
    kept = []
    for name, value in headers:
        if name.lower() in names:
            continue
        if https and name.lower() == b"set-cookie" and b"secure" not in value.lower():
            value += b"; Secure"
        kept.append((name, value))
    return kept + added


def _relative_path(scope) -> str:
    """The request's path below the server's base URL path, without the leading slash."""
    path = scope.get("path", "")
    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    if base and (path == f"/{base}" or path.startswith(f"/{base}/")):
        path = path[len(base) + 1:]
    return path.lstrip("/")


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def claims_of(scope) -> dict:
    """The sign-in claims in the request's signed cookie, as the app's st.user has them (empty when none or bad)."""
    cookie = SimpleCookie()
    try:
        cookie.load(_header(scope, b"cookie") or "")
    except Exception:  # noqa: BLE001 - a malformed cookie header is nobody signed in
        return {}
    cookies = {name: morsel.value for name, morsel in cookie.items()}
    try:
        raw = _get_signed_cookie_with_chunks(cookies, USER_COOKIE_NAME)
        claims = json.loads(raw) if raw else {}
    except Exception:  # noqa: BLE001 - a forged or stale cookie is nobody signed in
        return {}
    return claims if isinstance(claims, dict) else {}


def access_of(claims: dict) -> Access | None:
    if not claims:
        return None
    try:
        access, _ = auth.resolve_now(claims)
    except RolesError:
        return None
    return access


def message_allowed(kind: str, operation: str | None, signed_in: bool, access: Access | None) -> bool:
    """Whether a websocket message of this kind may reach Streamlit from a session whose handshake carried a sign-in
    (`signed_in`) that is let in now with `access` (None: not let in)."""
    if kind in ALWAYS_ALLOWED:
        return True
    if kind == "backend_operation_request":
        # a download checks at its click who is asking and says on its button when they may no longer have it;
        # a table's next rows are those of a table this session was shown
        return signed_in and operation in SIGNED_IN_OPERATIONS
    if kind == "file_urls_request":
        return access is not None and access.allows(REBUILD)
    return False  # clear_cache, run-on-save, git info, debug messages: nobody's page needs them


async def _answer(send, status: int, text: str) -> None:
    body = text.encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": hardened([(b"content-type", b"text/plain; charset=utf-8"),
                                     (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")],
                                    "")})
    await send({"type": "http.response.body", "body": body})


class SharedModeGuard:
    """ASGI middleware in front of Streamlit's routes (see the module's docstring for what it checks)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope, receive, send) -> None:
        path = _relative_path(scope)
        if path.startswith(CLOSED_PATHS):
            await _answer(send, 404, "Not found")
            return
        if path.startswith("media/"):
            claims = claims_of(scope)
            if not self._media_allowed(claims, path[len("media/"):]):
                _LOG.warning("refused a download URL to %s", auth.named(claims) if claims else "someone not signed in")
                await _answer(send, 404, "Not found")
                return
        elif path.startswith("_stcore/upload_file"):
            access = access_of(claims_of(scope))
            if access is None or not access.allows(REBUILD):
                await _answer(send, 403, "Uploads are for a role that may rebuild the data.")
                return
        elif path == "auth/logout":
            if not await self._sign_out(scope, send):
                return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": hardened(list(message.get("headers", [])), path)}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _media_allowed(claims: dict, file_name: str) -> bool:
        if access_of(claims) is None or not runtime.exists():
            return False
        stored = runtime.get_instance().media_file_mgr.read_file(file_name)
        if stored is None or stored.filename is None:
            return False
        return auth.may_fetch(claims, stored.filename, stored.content)

    @staticmethod
    async def _sign_out(scope, send) -> bool:
        """End the sign-in for good before Streamlit clears its cookie; False when the request was refused."""
        # a browser says where a navigation came from; one started on another site must not sign anyone out
        if (_header(scope, b"sec-fetch-site") or "same-origin") not in ("same-origin", "none"):
            await _answer(send, 403, "Sign out from the app's own page.")
            return False
        claims = claims_of(scope)
        if claims.get("is_logged_in"):
            ended = auth.sign_out_everywhere(claims)
            _LOG.info("%s signed out; %d open session(s) of that sign-in ended", auth.named(claims), ended)
        return True

    async def _websocket(self, scope, receive, send) -> None:
        claims = claims_of(scope)  # the socket's sign-in is the one its handshake carried, as Streamlit reads it

        async def checked_receive():
            while True:
                message = await receive()
                if message["type"] != "websocket.receive" or message.get("bytes") is None:
                    return message
                try:
                    back = BackMsg.FromString(message["bytes"])
                except Exception:  # noqa: BLE001 - Streamlit closes the socket on a frame that is not a BackMsg
                    return message
                kind = back.WhichOneof("type")
                if kind in ALWAYS_ALLOWED:
                    return message
                access = access_of(claims)  # the roles file and the sign-outs as they are now
                operation = back.backend_operation_request.WhichOneof("payload") \
                    if kind == "backend_operation_request" else None
                if message_allowed(kind, operation, bool(claims.get("is_logged_in")), access):
                    return message
                _LOG.warning("dropped a %s%s message from %s", kind, f" ({operation})" if operation else "",
                             auth.named(claims) if access else "a session that is not signed in")

        await self.app(scope, checked_receive, send)

