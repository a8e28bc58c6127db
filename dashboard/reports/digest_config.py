"""The digest file (deploy/digest.toml): who gets a digest and how it goes out, and the alerts' rules.

People and their scopes come from the shared mode's roles file, which the digest file reaches through the
deployment config (`deploy = "deploy.toml"`), so a csm's digest holds their book as the app does. Passwords and
webhooks come from the deployment's secrets file, never from this one. Every error names the file and the line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from dashboard.labels import filters_in_words
from dashboard.reports import alerts
from dashboard.reports.delivery import FolderChannel, SmtpChannel
from pipelines.access import Access, RolesError, load_roles, parse_scope
from pipelines.errors import RetentionError, read_settings_text
from pipelines.serve import DeployError, load_deploy_config

PERIODS = ("weekly", "monthly")
CHANNELS = ("smtp", "slack", "folder")
TOP_LEVEL_KEYS = {"deploy", "state", "period", "roles", "people", "channels", "top_at_risk", "app_url", "smtp",
                  "slack", "folder", "alert"}
ALERT_KEYS = {"name", "metric", "scope", "rule", "threshold", "direction", "notify", "noise_z"}
DEFAULT_TOP_AT_RISK = 10


class DigestConfigError(RetentionError, ValueError):
    """The digest file cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class Recipient:
    access: Access  # who, their role and scope, from the roles file

    @property
    def address(self) -> str:
        return self.access.who


@dataclass(frozen=True)
class DigestConfig:
    path: Path
    database: Path
    audit_log: Path
    state: Path
    period: str
    recipients: tuple[Recipient, ...]
    channels: tuple[str, ...]
    smtp: SmtpChannel | None
    slack_webhooks: dict[str, str]  # address -> the person's own incoming webhook
    folder: FolderChannel | None
    top_at_risk: int
    app_url: str | None
    alerts: tuple[alerts.Rule, ...] = field(default_factory=tuple)

    def recipient(self, address: str) -> Recipient | None:
        return next((r for r in self.recipients if r.address.lower() == address.lower()), None)


def _table_line(lines: list[str], table: str, index: int = 0) -> int | None:
    """The line of the `index`-th `[table]` or `[[table]]` header."""
    header = re.compile(rf"^\s*\[\[?\s*{re.escape(table)}\s*\]\]?\s*(#.*)?$")
    seen = 0
    for number, line in enumerate(lines, start=1):
        if header.match(line):
            if seen == index:
                return number
            seen += 1
    return None


def _key_line(lines: list[str], key: str, table: str | None = None, index: int = 0) -> int | None:
    """The line that sets `key` at the top of the file (table None) or within the `index`-th `[table]`/`[[table]]`;
    without one, the table's header line."""
    start = 0
    if table is not None:
        start = _table_line(lines, table, index) or 0
        if not start:
            return None
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
    for number in range(start + 1, len(lines) + 1):
        line = lines[number - 1]
        if line.strip().startswith("["):  # the next table: the key is not in this one
            break
        if pattern.match(line):
            return number
    return start or None


def load_digest_config(path: Path) -> DigestConfig:
    """Read and check the digest file, the deployment config and roles file it names, and the secrets it needs."""
    path = Path(path)
    text = read_settings_text(path, DigestConfigError, "no digest file here (deploy/digest.toml shows one)")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # its message ends "(at line N, column M)", or "(at end of document)": then the mistake runs to the last line
        where = "" if "at line" in str(error) else f", line {len(text.splitlines())}"
        raise DigestConfigError(f"{path}{where}: not valid TOML: {error}") from None
    lines = text.splitlines()

    def fail(message: str, key: str | None = None, table: str | None = None, index: int = 0) -> NoReturn:
        line = _key_line(lines, key, table, index) if key else _table_line(lines, table or "", index)
        raise DigestConfigError(f"{path}, line {line or '?'}: {message}")

    for key in sorted(set(document) - TOP_LEVEL_KEYS):
        fail(f"unknown setting {key!r}; valid settings: {', '.join(sorted(TOP_LEVEL_KEYS))}", key)
    deploy_text = document.get("deploy")
    if not isinstance(deploy_text, str) or not deploy_text:
        fail("deploy must name the deployment config, e.g. deploy = \"deploy.toml\"", "deploy")
    try:
        deploy = load_deploy_config((path.parent / deploy_text).resolve())
        roles = load_roles(deploy.roles)
    except (DeployError, RolesError) as error:
        raise DigestConfigError(f"{path}, line {_key_line(lines, 'deploy') or '?'}: {error}") from None
    secrets = _read_secrets(deploy.secrets)

    period = document.get("period", "weekly")
    if period not in PERIODS:
        fail(f"period must be {' or '.join(PERIODS)}, got {period!r}", "period")
    state = document.get("state", "digest-state.json")
    if not isinstance(state, str) or not state:
        fail("state must be a file path (where what was sent and each alert's state are kept)", "state")

    everyone = roles.entries()
    wanted_roles = document.get("roles")
    wanted_people = document.get("people")
    if wanted_roles is not None and (not isinstance(wanted_roles, list) or not all(isinstance(r, str) for r in wanted_roles)):
        fail("roles must be a list of roles, e.g. [\"executive\", \"csm\"]", "roles")
    if wanted_people is not None and (not isinstance(wanted_people, list) or not all(isinstance(p, str) for p in wanted_people)):
        fail("people must be a list of addresses from the roles file", "people")
    known = {a.who.lower(): a for a in everyone}
    for person in wanted_people or []:
        if person.lower() not in known:
            fail(f"{person!r} is not in the roles file {roles.path}; a digest goes only to people it lists", "people")
    chosen = [a for a in everyone if "@" in a.who
              and (wanted_roles is None or a.role in wanted_roles)
              and (wanted_people is None or a.who.lower() in {p.lower() for p in wanted_people})]

    channels = document.get("channels", ["folder"])
    if not isinstance(channels, list) or not channels or any(c not in CHANNELS for c in channels):
        fail(f"channels must be a list of {', '.join(CHANNELS)}, e.g. channels = [\"smtp\"]", "channels")
    smtp = slack_webhooks = folder = None
    if "smtp" in channels:
        smtp = _smtp_channel(document.get("smtp"), secrets, fail)
    if "slack" in channels:
        slack_webhooks = _slack_webhooks(secrets, deploy.secrets, chosen, fail)
    if "folder" in channels:
        table = document.get("folder") or {}
        folder_path = table.get("path", "outbox") if isinstance(table, dict) else None
        if not isinstance(folder_path, str) or not folder_path:
            fail("[folder] path must be a folder, e.g. path = \"outbox\"", "path", "folder")
        folder = FolderChannel((path.parent / folder_path).resolve())

    top = document.get("top_at_risk", DEFAULT_TOP_AT_RISK)
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= 100:
        fail(f"top_at_risk must be a whole number from 1 to 100, got {top!r}", "top_at_risk")
    app_url = document.get("app_url")
    if app_url is not None and (not isinstance(app_url, str) or not app_url.startswith(("https://", "http://"))):
        fail("app_url must be the app's address, e.g. \"https://retention.example.com\"", "app_url")

    rules = []
    raw_alerts = document.get("alert", [])
    if not isinstance(raw_alerts, list):
        fail("alerts are [[alert]] tables", "alert")
    for index, raw in enumerate(raw_alerts):
        rules.append(_alert_rule(raw, index, known, fail))
    names = [r.name for r in rules]
    for index, name in enumerate(names):
        if names.index(name) != index:
            fail(f"two alerts are named {name!r}; each needs a name of its own (it keys the alert's state)",
                 "name", "alert", index)
    return DigestConfig(
        path=path, database=deploy.database, audit_log=deploy.audit_log, state=(path.parent / state).resolve(),
        period=period, recipients=tuple(Recipient(a) for a in chosen), channels=tuple(channels), smtp=smtp,
        slack_webhooks=slack_webhooks or {}, folder=folder, top_at_risk=top, app_url=app_url, alerts=tuple(rules))


def _read_secrets(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as error:
        raise DigestConfigError(f"{path}: not valid TOML: {error}") from None


def _smtp_channel(table, secrets: dict, fail: Callable[..., NoReturn]) -> SmtpChannel:
    if not isinstance(table, dict):
        fail("channels names smtp, so the file needs an [smtp] table with host, port and sender", "channels")
    for key in sorted(set(table) - {"host", "port", "sender", "starttls", "cafile", "timeout_seconds"}):
        fail(f"unknown [smtp] setting {key!r}; the username and password go in the secrets file's [smtp]", key, "smtp")
    host, port, sender = table.get("host"), table.get("port", 587), table.get("sender")
    if not isinstance(host, str) or not host:
        fail("[smtp] host must be the mail server's name", "host", "smtp")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        fail(f"[smtp] port must be a whole number from 1 to 65535, got {port!r}", "port", "smtp")
    if not isinstance(sender, str) or "@" not in sender:
        fail("[smtp] sender must be the address the digests come from", "sender", "smtp")
    starttls = table.get("starttls", True)
    if not isinstance(starttls, bool):
        fail("[smtp] starttls must be true or false", "starttls", "smtp")
    credentials = secrets.get("smtp", {}) if isinstance(secrets.get("smtp"), dict) else {}
    return SmtpChannel(host=host, port=port, sender=sender, username=credentials.get("username"),
                       password=credentials.get("password"), starttls=starttls, cafile=table.get("cafile"),
                       timeout_seconds=float(table.get("timeout_seconds", 10.0)))


def _slack_webhooks(secrets: dict, secrets_path: Path, chosen: list[Access],
                    fail: Callable[..., NoReturn]) -> dict[str, str]:
    """Each recipient's own webhook: a channel's webhook would show one csm's book to everyone in the channel."""
    table = secrets.get("slack", {}).get("webhooks", {}) if isinstance(secrets.get("slack"), dict) else {}
    hooks = {str(k).lower(): v for k, v in table.items() if isinstance(v, str)}
    missing = [a.who for a in chosen if a.who.lower() not in hooks]
    if missing:
        fail(f"channels names slack, but the secrets file {secrets_path} has no [slack.webhooks] entry for "
             f"{', '.join(missing)}; each person needs a webhook of their own (a direct message), so no book is posted "
             "where others read it", "channels")
    return hooks


def _alert_rule(raw, index: int, known: dict[str, Access], fail: Callable[..., NoReturn]) -> alerts.Rule:
    if not isinstance(raw, dict):
        fail("an [[alert]] must be a table", None, "alert", index)
    for key in sorted(set(raw) - ALERT_KEYS):
        fail(f"unknown alert setting {key!r}; valid: {', '.join(sorted(ALERT_KEYS))}", key, "alert", index)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        fail("an alert needs a name", None, "alert", index)
    metric = raw.get("metric")
    if metric not in alerts.METRICS:
        fail(f"alert {name!r}: metric must be one of {', '.join(alerts.METRICS)}, got {metric!r}", "metric", "alert",
             index)
    rule = raw.get("rule", "beyond_noise")
    if rule not in alerts.RULES:
        fail(f"alert {name!r}: rule must be one of {', '.join(alerts.RULES)}, got {rule!r}", "rule", "alert", index)
    direction = raw.get("direction", alerts.METRICS[metric].worse)
    if direction not in alerts.DIRECTIONS:
        fail(f"alert {name!r}: direction must be one of {', '.join(alerts.DIRECTIONS)}", "direction", "alert", index)
    threshold = raw.get("threshold")
    if rule == "threshold":
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            fail(f"alert {name!r}: a threshold rule needs threshold = a number", "rule", "alert", index)
        if direction == "either":
            fail(f"alert {name!r}: a threshold is crossed upwards or downwards; direction must be up or down",
                 "direction", "alert", index)
    elif threshold is not None:
        fail(f"alert {name!r}: threshold applies to rule = \"threshold\" only", "threshold", "alert", index)
    if rule == "beyond_noise" and not alerts.METRICS[metric].monthly:
        fail(f"alert {name!r}: {metric} has no monthly history to judge the noise by; use rule = \"threshold\"",
             "rule", "alert", index)
    noise_z = raw.get("noise_z", alerts.DEFAULT_NOISE_Z)
    if isinstance(noise_z, bool) or not isinstance(noise_z, (int, float)) or noise_z < 1:
        fail(f"alert {name!r}: noise_z must be a number of at least 1", "noise_z", "alert", index)
    scope_value = raw.get("scope", [])
    scope_texts = [scope_value] if isinstance(scope_value, str) else scope_value
    if not isinstance(scope_texts, list) or not all(isinstance(s, str) for s in scope_texts):
        fail(f"alert {name!r}: scope must be a text like 'region = \"EMEA\"' or a list of them", "scope", "alert",
             index)
    try:
        scope = tuple(parse_scope(s) for s in scope_texts)
    except ValueError as error:
        fail(f"alert {name!r}: {error}", "scope", "alert", index)
    notify = raw.get("notify")
    if not isinstance(notify, list) or not notify or not all(isinstance(n, str) for n in notify):
        fail(f"alert {name!r}: notify must list the addresses that hear of it", "notify", "alert", index)
    for person in notify:
        access = known.get(person.lower())
        if access is None:
            fail(f"alert {name!r}: {person!r} is not in the roles file; alerts go only to people it lists", "notify",
                 "alert", index)
        # a csm hears only of their own book: the alert's scope must hold every condition of theirs
        if access.scope and not set(access.scope) <= set(scope):
            fail(f"alert {name!r}: {person} sees only {', '.join(filters_in_words(access.scope))}, but the alert "
                 f"watches {', '.join(filters_in_words(scope)) or 'every account'}; give the alert their scope or "
                 "leave them out", "notify", "alert", index)
    return alerts.Rule(name=name.strip(), metric=metric, scope=scope, rule=rule, direction=direction,
                       threshold=None if threshold is None else float(threshold), noise_z=float(noise_z),
                       notify=tuple(notify))
