"""The audit log of a shared deployment: who signed in, who exported what, who rebuilt with which files.

One JSON object per line, appended and never rewritten, in a file outside the analysis database: a
rebuild swaps that file and the log stays. Each line goes out in one write() on a descriptor opened
with O_APPEND, so lines of concurrent sessions never interleave. Without a log path (the laptop, where
one person is the only user) nothing is recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from pipelines.access import Access

# the events one line can record
SIGN_IN, REFUSED, SIGN_OUT, EXPORT, REBUILD = "sign_in", "refused", "sign_out", "export", "rebuild"

# every session's thread (and the server's own, at a sign-out) reads and adds to the tokens already recorded: one
# at a time
_lock = threading.Lock()
# per log file and event kind, the tokens already recorded: a sign-in is one per token, however many tabs it opens,
# and a token signed out stays out, also after a restart (the log is read at first use)
_recorded_tokens: dict[tuple[Path | None, str], set[str]] = {}


def log_path() -> Path | None:
    """$RETENTION_AUDIT_LOG, set by `retention serve`; None on the laptop."""
    value = os.environ.get("RETENTION_AUDIT_LOG")
    return Path(value) if value else None


def append(path: Path, event: str, **detail) -> dict:
    """Append one line; returns what was written."""
    entry = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "event": event, **detail}
    line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)
    return entry


def read_events(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def events_table(path: Path, limit: int = 1000) -> pd.DataFrame:
    """The latest events, newest first: when, what, who, and the rest of the line as JSON."""
    rows = []
    for entry in reversed(read_events(path)[-limit:]):
        fixed = {key: entry.get(key) for key in ("at", "event", "user", "role")}
        rest = {key: value for key, value in entry.items() if key not in fixed}
        rows.append({**fixed, "detail": json.dumps(rest, ensure_ascii=False, default=str)})
    return pd.DataFrame(rows, columns=["at", "event", "user", "role", "detail"])


def token_key(claims: dict) -> str:
    """One sign-in: the identity token's issuer, subject, issue time and nonce, hashed (the log keeps no token)."""
    parts = [str(claims.get(k, "")) for k in ("iss", "sub", "iat", "nonce")]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def _recorded(path: Path | None, kind: str) -> set[str]:
    """The tokens the log holds for `kind` (SIGN_IN also counts refusals); call with _lock held."""
    recorded = _recorded_tokens.get((path, kind))
    if recorded is None:  # first use in this process: a restart must neither record old sign-ins again nor forget
        kinds = (SIGN_IN, REFUSED) if kind == SIGN_IN else (kind,)
        recorded = {token for e in read_events(path) if e.get("event") in kinds
                    and isinstance(token := e.get("token"), str)} if path else set()
        _recorded_tokens[(path, kind)] = recorded
    return recorded


def _append_once(path: Path | None, kind: str, claims: dict, event: str, **detail) -> bool:
    """Append `event` for this token unless `kind` already holds it (each token is recorded once per kind); True
    when it was new. Without a log the token is still remembered, in this process."""
    key = token_key(claims)
    with _lock:
        recorded = _recorded(path, kind)
        if key in recorded:
            return False
        recorded.add(key)
        if path is not None:
            append(path, event, **detail, sub=claims.get("sub"), token=key)
    return True


def record_sign_in_once(path: Path | None, claims: dict, access: Access | None, who: str,
                        unverified_email: str | None = None) -> bool:
    """Record a sign-in (or a refused one) the first time its token is seen; True when a line was written.
    `who` is how the person is named: their verified e-mail address, else their sub. An address the provider did
    not verify is kept as what it is, a claim (`unverified_email`), never as the person's name."""
    if path is None:
        return False
    unverified = {"unverified_email": unverified_email[:320]} if unverified_email else {}
    if access is None:
        return _append_once(path, SIGN_IN, claims, REFUSED, user=who, role=None, reason="not in the roles file",
                            **unverified)
    return _append_once(path, SIGN_IN, claims, SIGN_IN, user=access.who, role=access.role, scope=list(access.scope),
                        **unverified)


def record_sign_out(path: Path | None, claims: dict, who: str) -> bool:
    """Record that this token signed out, so it is let in nowhere again; True when a line was written."""
    return _append_once(path, SIGN_OUT, claims, SIGN_OUT, user=who)


def is_signed_out(path: Path | None, claims: dict) -> bool:
    key = token_key(claims)
    with _lock:
        return key in _recorded(path, SIGN_OUT)


def record_export(path: Path | None, access: Access, file_name: str, filters, rows: int | None) -> None:
    """One export: the download writes it when the file has been made for the click that asked for it."""
    if path is not None:
        append(path, EXPORT, user=access.who, role=access.role, file=file_name, filters=list(filters), rows=rows)


def upload_inputs(uploads: dict) -> list[dict]:
    """What a rebuild was given: each uploaded file's name as sent, size and SHA-256."""
    inputs = []
    for source, upload in uploads.items():
        if upload is None:
            continue
        content = upload.getvalue()
        inputs.append({"source": source, "file": upload.name, "bytes": len(content),
                       "sha256": hashlib.sha256(content).hexdigest()})
    return inputs


def record_rebuild(path: Path | None, access: Access, kind: str, inputs: list[dict], outcome: str,
                   build_id: str | None = None) -> None:
    if path is not None:
        append(path, REBUILD, user=access.who, role=access.role, kind=kind, inputs=inputs, outcome=outcome,
               build_id=build_id)
