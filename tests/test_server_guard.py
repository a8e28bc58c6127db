"""The shared server's guard (dashboard/server_guard.py) as an attacker meets it, without a browser: an ASGI app
behind it records what reaches Streamlit. The browser walk in test_browser_shared.py checks the same doors on the
real server."""

from __future__ import annotations

import asyncio

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg

from dashboard import server_guard
from dashboard.server_guard import SharedModeGuard

ROLES = '[users]\n"admin@example.com" = "admin"\n"exec@example.com" = "executive"\n'


class Downstream:
    """Streamlit's place behind the guard: records the requests and websocket messages that got through."""

    def __init__(self):
        self.requests, self.messages = [], []

    async def __call__(self, scope, receive, send):
        self.requests.append(scope["path"])
        if scope["type"] == "websocket":
            while (message := await receive())["type"] == "websocket.receive":
                self.messages.append(BackMsg.FromString(message["bytes"]).WhichOneof("type"))
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"x-from", b"streamlit"), (b"set-cookie", b"_streamlit_user=v; HttpOnly; Path=/")]})
        await send({"type": "http.response.body", "body": b"ok"})


def back_message(kind: str, operation: str | None = None) -> bytes:
    message = BackMsg()
    if kind == "backend_operation_request":
        getattr(message.backend_operation_request, operation).SetInParent()
    elif kind == "rerun_script":
        message.rerun_script.query_string = ""
    elif kind == "file_urls_request":
        message.file_urls_request.file_names.append("accounts.csv")
    else:
        setattr(message, kind, True)
    return message.SerializeToString()


SENT = [("clear_cache", None), ("rerun_script", None), ("set_run_on_save", None), ("load_git_info", None),
        ("file_urls_request", None), ("backend_operation_request", "deferred_file"),
        ("backend_operation_request", "install_skills"), ("debug_shutdown_runtime", None), ("app_heartbeat", None)]


def through_websocket(claims: dict, monkeypatch) -> list[str]:
    monkeypatch.setattr(server_guard, "claims_of", lambda scope: claims)
    downstream = Downstream()
    frames = [{"type": "websocket.receive", "bytes": back_message(k, o)} for k, o in SENT]
    frames.append({"type": "websocket.disconnect"})

    async def receive():
        return frames.pop(0)

    async def send(message):
        pass

    asyncio.run(SharedModeGuard(downstream)({"type": "websocket", "path": "/_stcore/stream", "headers": []},
                                            receive, send))
    return downstream.messages


def http(path: str, claims: dict, monkeypatch, headers=()) -> tuple[int, dict, list[str]]:
    monkeypatch.setattr(server_guard, "claims_of", lambda scope: claims)
    downstream, sent = Downstream(), []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": path, "method": "GET", "headers": [(k.encode(), v.encode()) for k, v in headers]}
    asyncio.run(SharedModeGuard(downstream)(scope, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"]), downstream.requests


@pytest.fixture
def shared(tmp_path, monkeypatch):
    roles = tmp_path / "roles.toml"
    roles.write_text(ROLES, encoding="utf-8")
    monkeypatch.setenv("RETENTION_ROLES", str(roles))
    monkeypatch.setenv("RETENTION_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    return roles


def signed_in(email: str, nonce: str = "n1") -> dict:
    import time

    return {"is_logged_in": True, "email": email, "email_verified": True, "sub": f"sub-{email}", "iss": "http://id",
            "iat": int(time.time()) - 5, "exp": int(time.time()) + 600, "nonce": nonce}


def test_a_websocket_without_sign_in_gets_only_page_runs_through(shared, monkeypatch):
    """clear_cache from anyone who opens a websocket emptied every cache of the server: nobody's gets through now."""
    assert through_websocket({}, monkeypatch) == ["rerun_script", "app_heartbeat"]


def test_a_signed_in_websocket_gets_downloads_and_only_a_rebuild_role_asks_for_uploads(shared, monkeypatch):
    assert through_websocket(signed_in("exec@example.com"), monkeypatch) == [
        "rerun_script", "backend_operation_request", "app_heartbeat"]
    assert through_websocket(signed_in("admin@example.com", "n2"), monkeypatch) == [
        "rerun_script", "file_urls_request", "backend_operation_request", "app_heartbeat"]
    # removed from the roles file: no uploads; a download request still reaches the download, which refuses it on
    # its button (test_browser_shared), rather than leaving the button waiting for an answer that never comes
    shared.write_text('[users]\n"exec@example.com" = "executive"\n', encoding="utf-8")
    assert through_websocket(signed_in("admin@example.com", "n3"), monkeypatch) == [
        "rerun_script", "backend_operation_request", "app_heartbeat"]


@pytest.mark.parametrize("path", ["/_stcore/metrics", "/_stcore/agent/openapi.json", "/_stcore/agent/interact"])
def test_the_server_metrics_and_the_agent_api_are_closed_even_to_an_admin(shared, monkeypatch, path):
    status, headers, reached = http(path, signed_in("admin@example.com"), monkeypatch)
    assert (status, reached) == (404, [])
    assert headers[b"x-frame-options"] == b"DENY"


def test_uploads_are_for_a_rebuild_role_only(shared, monkeypatch):
    path = "/_stcore/upload_file/session/file"
    assert http(path, {}, monkeypatch)[0] == 403
    assert http(path, signed_in("exec@example.com"), monkeypatch)[0] == 403
    status, _, reached = http(path, signed_in("admin@example.com"), monkeypatch)
    assert (status, reached) == (200, [path])


def test_a_page_on_another_site_cannot_sign_anyone_out(shared, monkeypatch):
    claims = signed_in("exec@example.com")
    status, _, reached = http("/auth/logout", claims, monkeypatch, [("sec-fetch-site", "cross-site")])
    assert (status, reached) == (403, [])
    from dashboard import auth

    assert auth.resolve_now(claims)[1] == auth.LET_IN
    status, _, reached = http("/auth/logout", claims, monkeypatch, [("sec-fetch-site", "same-origin")])
    assert (status, reached) == (200, ["/auth/logout"])
    # signed out for good: the same cookie lets nobody in, here or in another browser it was copied to
    assert auth.resolve_now(claims)[1] == auth.SIGNED_OUT


def test_every_answer_keeps_the_app_out_of_frames_and_referrers(shared, monkeypatch):
    status, headers, _ = http("/", {}, monkeypatch)
    assert status == 200 and headers[b"x-from"] == b"streamlit"
    assert headers[b"x-frame-options"] == b"DENY"
    assert headers[b"content-security-policy"] == b"frame-ancestors 'none'"
    assert headers[b"referrer-policy"] == b"no-referrer" and headers[b"x-content-type-options"] == b"nosniff"


def test_a_download_url_without_a_sign_in_is_not_found(shared, monkeypatch):
    status, _, reached = http("/media/0123abcd.csv", {}, monkeypatch)
    assert (status, reached) == (404, [])


def test_behind_https_every_cookie_is_secure_and_browsers_keep_to_https(shared, monkeypatch):
    """Streamlit sets its sign-in cookies without Secure; over HTTPS they must never travel over plain HTTP."""
    assert http("/", {}, monkeypatch)[1][b"set-cookie"] == b"_streamlit_user=v; HttpOnly; Path=/"
    monkeypatch.setenv("RETENTION_HTTPS", "1")
    status, headers, _ = http("/", {}, monkeypatch)
    assert headers[b"set-cookie"] == b"_streamlit_user=v; HttpOnly; Path=/; Secure"
    assert headers[b"strict-transport-security"] == b"max-age=31536000"


def test_a_download_click_checks_the_person_again(shared, monkeypatch):
    """The page was shown to a person let in; at the click the roles file, the clock and the sign-outs are read
    again, and a file is made only if they are still let in as they were shown."""
    from dashboard import audit, auth

    claims = signed_in("exec@example.com", "n-click")
    shown_to, _ = auth.resolve_now(claims)
    auth.check_still_allowed(claims, shown_to, "account_downloads")  # nothing changed: no error

    shared.write_text('[users]\n"exec@example.com" = "analyst"\n"admin@example.com" = "admin"\n', encoding="utf-8")
    with pytest.raises(auth.AccessChanged, match="changed since the page was shown"):
        auth.check_still_allowed(claims, shown_to, "account_downloads")
    shared.write_text(ROLES.replace('"exec@example.com" = "executive"\n', ""), encoding="utf-8")
    with pytest.raises(auth.AccessChanged, match="no longer let in"):
        auth.check_still_allowed(claims, shown_to, "account_downloads")
    shared.write_text("not toml", encoding="utf-8")
    with pytest.raises(auth.AccessChanged, match="roles file is fixed"):
        auth.check_still_allowed(claims, shown_to, "account_downloads")
    shared.write_text(ROLES, encoding="utf-8")
    with pytest.raises(auth.AccessChanged, match="no longer let in"):
        auth.check_still_allowed({**claims, "exp": 1}, shown_to, "account_downloads")
    audit.record_sign_out(audit.log_path(), claims, "exec@example.com")
    with pytest.raises(auth.AccessChanged, match="no longer let in"):
        auth.check_still_allowed(claims, shown_to, "account_downloads")
