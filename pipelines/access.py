"""Who may see what in a shared deployment: the roles file, its roles, and a person's Access.

The roles file is TOML kept beside the deployment config. Each key of its `[users]` table is an
e-mail address (matched without regard to case, and only when the provider says it verified it), or
the provider's `sub`: a key without "@", or any key written `sub:...` (a sub that looks like an
address). Its value is a role, or for a csm an inline table with the scope, a segment predicate over
the build's filterable columns:

    [users]
    "maria@example.com" = "executive"
    "dana@example.com"  = { role = "csm", scope = 'csm = "Dana Ruiz"' }
    "sub:ops@tenant.example" = "analyst"

A scope becomes filter texts (`csm=Dana Ruiz`) for `pipelines.filters`, so it reaches SQL only as an
allow-listed column and a bound value. Roles come from this file alone, never from the provider's
group claims: those can be large enough to break the session cookie. Every error names the file and
the line, so a bad file stops the server before anyone signs in.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import RetentionError, read_settings_text
from .filters import FilterError, parse_filter

# What each role may do beyond reading every page of its accounts.
ACCOUNT_DOWNLOADS = "account_downloads"  # files that list accounts one by one (the at-risk list)
AGGREGATE_DOWNLOADS = "aggregate_downloads"  # curves, KPI tables, hazard ratios, reports
RAW_TABLES = "raw_tables"  # the Data page's inputs, load report, rejected rows and table counts
REBUILD = "rebuild"  # upload files and rebuild the database
AUDIT_LOG = "audit_log"  # read the audit log

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "executive": frozenset({AGGREGATE_DOWNLOADS, ACCOUNT_DOWNLOADS}),
    "analyst": frozenset({AGGREGATE_DOWNLOADS, ACCOUNT_DOWNLOADS, RAW_TABLES}),
    "support_lead": frozenset({AGGREGATE_DOWNLOADS}),
    "csm": frozenset({AGGREGATE_DOWNLOADS, ACCOUNT_DOWNLOADS}),
    "admin": frozenset({AGGREGATE_DOWNLOADS, ACCOUNT_DOWNLOADS, RAW_TABLES, REBUILD, AUDIT_LOG}),
}
# The role that must name a scope, and the only one that may: everyone else sees every account.
SCOPED_ROLE = "csm"
# The laptop: one person on localhost with no sign-in, who may do everything.
LOCAL_ROLE = "local"

# A roles key that names a sub whatever it looks like; other keys with "@" are e-mail addresses.
SUB_PREFIX = "sub:"

SCOPE_PATTERN = re.compile(r"""^\s*(?P<column>[^=!<>"']+?)\s*=\s*(?P<quote>["'])(?P<value>.*)(?P=quote)\s*$""")


class RolesError(RetentionError, ValueError):
    """The roles file cannot be used; the message names the file and the line."""


class AccessChanged(PermissionError):
    """What a person was shown no longer holds: signed out, expired, removed from the roles file, another role."""


@dataclass(frozen=True)
class Access:
    """What one signed-in person may see and do."""

    who: str  # the e-mail address or sub the roles file matched
    role: str
    scope: tuple[str, ...] = ()  # filter texts every query is narrowed by (all must hold)
    permissions: frozenset[str] = field(default_factory=frozenset)
    line: int | None = None  # the roles file's line that granted it

    def allows(self, permission: str) -> bool:
        return permission in self.permissions

    def describe(self) -> str:
        text = self.role.replace("_", " ")
        return f"{text} ({', '.join(self.scope)})" if self.scope else text


LOCAL_ACCESS = Access(who="local", role=LOCAL_ROLE, permissions=frozenset().union(*ROLE_PERMISSIONS.values()))


@dataclass(frozen=True)
class Roles:
    """The parsed roles file: who is let in, and with which Access."""

    path: Path
    by_email: dict[str, Access]
    by_sub: dict[str, Access]

    def lookup(self, email: str | None, sub: str | None) -> Access | None:
        """The Access of a signed-in person, by verified e-mail first, then by sub; None when the file does not name
        them (or when either claim is not text: a provider's claim is data, not a promise of its type)."""
        if isinstance(email, str) and email.strip().lower() in self.by_email:
            return self.by_email[email.strip().lower()]
        if isinstance(sub, str) and sub in self.by_sub:
            return self.by_sub[sub]
        return None

    def entries(self) -> list[Access]:
        return sorted({*self.by_email.values(), *self.by_sub.values()}, key=lambda a: a.line or 0)


def _key_line(lines: list[str], key: str) -> int | None:
    """The first line that names `key` (tomllib keeps no positions, so the text is searched)."""
    quoted = (f'"{key}"', f"'{key}'")
    bare = re.compile(rf"\[*\s*{re.escape(key)}\s*[=.\]]")
    for number, line in enumerate(lines, start=1):
        code = line.strip()
        if code.startswith("#"):
            continue
        if any(q in code for q in quoted) or bare.match(code):
            return number
    return None


def normalise_role(text: str) -> str:
    return re.sub(r"[\s-]+", "_", text.strip().lower())


def parse_scope(text: str) -> str:
    """`csm = "Dana Ruiz"` -> the filter text `csm=Dana Ruiz` (the column is checked against the build later)."""
    match = SCOPE_PATTERN.match(text)
    if match is None:
        raise ValueError(f"scope {text!r} is not COLUMN = \"VALUE\" (for example csm = \"Dana Ruiz\")")
    return f"{match.group('column').strip()}={match.group('value')}"


def parse_roles(text: str, path: Path) -> Roles:
    """Parse the roles file's text; RolesError names the line of the first problem."""
    lines = text.splitlines()
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # tomllib's message already ends with "(at line N, column M)"
        raise RolesError(f"{path}: not valid TOML: {error}") from None
    users = document.get("users")
    if not isinstance(users, dict) or not users:
        raise RolesError(f"{path}: no [users] table; add one line per person, e.g. \"maria@example.com\" = \"executive\"")
    unknown_tables = sorted(set(document) - {"users"})
    if unknown_tables:
        raise RolesError(f"{path}, line {_key_line(lines, unknown_tables[0]) or '?'}: unknown section "
                         f"{unknown_tables[0]!r}; the file has one [users] table")

    by_email: dict[str, Access] = {}
    by_sub: dict[str, Access] = {}
    for key, value in users.items():
        line = _key_line(lines, key)
        where = f"{path}, line {line or '?'}"
        if isinstance(value, str):
            role_text, scope_value = value, None
        elif isinstance(value, dict):
            extra = sorted(set(value) - {"role", "scope"})
            if extra:
                raise RolesError(f"{where}: {key!r} has unknown field {extra[0]!r}; only role and scope")
            role = value.get("role")
            if not isinstance(role, str):
                raise RolesError(f"{where}: {key!r} has no role")
            role_text, scope_value = role, value.get("scope")
        else:
            raise RolesError(f"{where}: {key!r} must be a role (\"executive\") or {{ role = ..., scope = ... }}")
        role = normalise_role(role_text)
        if role not in ROLE_PERMISSIONS:
            raise RolesError(f"{where}: unknown role {role_text!r} for {key!r}; valid roles: "
                             f"{', '.join(ROLE_PERMISSIONS)}")
        scope_texts = [scope_value] if isinstance(scope_value, str) else scope_value
        if scope_value is not None and (not isinstance(scope_texts, list) or not scope_texts
                                        or not all(isinstance(s, str) for s in scope_texts)):
            raise RolesError(f"{where}: the scope of {key!r} must be a text like 'csm = \"Dana Ruiz\"' or a list of them")
        if role == SCOPED_ROLE and not scope_texts:
            raise RolesError(f"{where}: {key!r} is a csm without a scope; add scope = 'csm = \"Their Name\"'")
        if role != SCOPED_ROLE and scope_texts:
            raise RolesError(f"{where}: only a csm has a scope; {key!r} is {role} and sees every account")
        try:
            scope = tuple(parse_scope(s) for s in scope_texts or ())
        except ValueError as error:
            raise RolesError(f"{where}: {error}") from None
        access = Access(who=key, role=role, scope=scope, permissions=ROLE_PERMISSIONS[role], line=line)
        if key.startswith(SUB_PREFIX):
            sub = key[len(SUB_PREFIX):]
            if not sub:
                raise RolesError(f"{where}: {key!r} names no sub after {SUB_PREFIX!r}")
            if sub in by_sub:
                raise RolesError(f"{where}: the sub {sub!r} is listed twice (first on line {by_sub[sub].line})")
            by_sub[sub] = access
        elif "@" in key:
            folded = key.strip().lower()
            if folded in by_email:
                raise RolesError(f"{where}: {key!r} is listed twice (e-mail addresses are compared without case; "
                                 f"first on line {by_email[folded].line})")
            by_email[folded] = access
        else:
            if key in by_sub:
                raise RolesError(f"{where}: the sub {key!r} is listed twice (first on line {by_sub[key].line})")
            by_sub[key] = access
    return Roles(path=path, by_email=by_email, by_sub=by_sub)


def load_roles(path: Path) -> Roles:
    path = Path(path)
    # unreadable for now, e.g. while an editor replaces it: nobody is let in meanwhile
    text = read_settings_text(path, RolesError, "no roles file here; write one (see the README's Shared mode)")
    return parse_roles(text, path)


def check_scopes(roles: Roles, columns: dict) -> None:
    """Every scope names a filterable column of the build (`pipelines.filters.filterable_columns`)."""
    for access in roles.entries():
        for text in access.scope:
            try:
                parse_filter(text, columns)
            except FilterError as error:
                raise RolesError(f"{roles.path}, line {access.line or '?'}: the scope of {access.who!r} cannot be "
                                 f"applied: {error}") from None
