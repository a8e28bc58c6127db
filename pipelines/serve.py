"""`retention serve --config deploy.toml`: the shared server, checked before it starts.

The deployment config names the address and port, the database, the roles file, the audit log and the
secrets file whose `[auth]` section configures Streamlit's OpenID Connect sign-in (`st.login`). Before
Streamlit starts, the command refuses a non-localhost address without sign-in (anyone who reaches the
port would see every account's revenue), and a roles file with an error (the message names the line).
The checked settings reach the app as environment variables; only this module and the app read them.
"""

from __future__ import annotations

import ipaddress
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from .access import check_scopes, load_roles
from .errors import RetentionError
from .filters import filter_predicate, filterable_columns, parse_filters
from .schema import schema_problem
from .settings import ENV_DB
from .sqlrun import execute_template

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "streamlit_app.py"
# the same app behind the checks a signed-in team needs (its docstring lists them)
SHARED_APP = ROOT / "dashboard" / "shared_server.py"
# the project's Streamlit settings: Streamlit reads them only from the folder it is started in, so `retention serve`
# passes them on, from wherever it is started
PROJECT_CONFIG = ROOT / ".streamlit" / "config.toml"
# What the shared mode pins whatever the config files say: no table toolbar export (every file that leaves the app
# is a download button's, which checks the role and writes the audit log), and no agent API (it drives the app
# without a page).
SHARED_OPTIONS = {"client.disableDataExport": True, "server.enableAgentApi": False}
LOCAL_NAMES = {"localhost"}
# The [auth] keys st.login() needs for its default provider.
AUTH_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
# The cookie secret signs the session cookie that carries who someone is; a short one can be guessed.
MIN_COOKIE_SECRET_CHARS = 32
DEPLOY_KEYS = {"address", "port", "database", "roles", "audit_log", "secrets", "base_url_path"}
# What `retention serve` tells the app: the database (settings.ENV_DB), and in the shared mode the roles file and the
# audit log.
ENV_ROLES, ENV_AUDIT_LOG = "RETENTION_ROLES", "RETENTION_AUDIT_LOG"
# set when people reach the app over HTTPS (its redirect_uri says so): its cookies are then Secure and browsers are
# told to come back over HTTPS only
ENV_HTTPS = "RETENTION_HTTPS"


class DeployError(RetentionError, ValueError):
    """The deployment cannot start as configured; the message says why and what to change."""


@dataclass(frozen=True)
class DeployConfig:
    path: Path
    address: str
    port: int
    database: Path
    roles: Path
    audit_log: Path
    secrets: Path
    base_url_path: str = ""


@dataclass
class ServePlan:
    """What `retention serve` runs: the command, its environment, and what it said about the setup."""

    argv: list[str]
    env: dict[str, str]
    shared: bool
    notes: list[str] = field(default_factory=list)


def load_deploy_config(path: Path) -> DeployConfig:
    """Read deploy.toml; paths in it are relative to its folder."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeployError(f"{path}: no deployment config here (README, Shared mode, shows one)") from None
    except tomllib.TOMLDecodeError as error:
        raise DeployError(f"{path}: not valid TOML: {error}") from None
    unknown = sorted(set(document) - DEPLOY_KEYS)
    if unknown:
        raise DeployError(f"{path}: unknown setting {unknown[0]!r}; valid settings: {', '.join(sorted(DEPLOY_KEYS))}")
    folder = path.parent

    def file_setting(key: str, default: str) -> Path:
        value = document.get(key, default)
        if not isinstance(value, str) or not value:
            raise DeployError(f"{path}: {key} must be a file path")
        return (folder / value).resolve()

    address = document.get("address", "localhost")
    port = document.get("port", 8501)
    if not isinstance(address, str) or not address:
        raise DeployError(f"{path}: address must be a host name or IP address, e.g. \"0.0.0.0\" or \"localhost\"")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise DeployError(f"{path}: port must be a whole number from 1 to 65535, got {port!r}")
    base_url_path = document.get("base_url_path", "")
    if not isinstance(base_url_path, str):
        raise DeployError(f"{path}: base_url_path must be text, e.g. \"retention\"")
    return DeployConfig(
        path=path, address=address, port=port,
        database=file_setting("database", "data/retention.duckdb"),
        roles=file_setting("roles", "roles.toml"),
        audit_log=file_setting("audit_log", "audit.jsonl"),
        secrets=file_setting("secrets", "secrets.toml"),
        base_url_path=base_url_path.strip("/"),
    )


def is_local_address(address: str) -> bool:
    """Whether only this machine can reach a server bound to `address`."""
    if address.lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def sign_in_problems(secrets: Path) -> list[str]:
    """What keeps sign-in from working with this secrets file: empty when its [auth] section is complete."""
    try:
        document = tomllib.loads(secrets.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"there is no secrets file at {secrets}"]
    except tomllib.TOMLDecodeError as error:
        return [f"{secrets} is not valid TOML: {error}"]
    auth = document.get("auth")
    if not isinstance(auth, dict):
        return [f"{secrets} has no [auth] section"]
    problems = [f"[auth] in {secrets} has no {key}" for key in AUTH_KEYS if not auth.get(key)]
    secret = auth.get("cookie_secret")
    if isinstance(secret, str) and secret and len(secret) < MIN_COOKIE_SECRET_CHARS:
        problems.append(f"the cookie_secret in {secrets} is shorter than {MIN_COOKIE_SECRET_CHARS} characters; "
                        "make one with: python -c \"import secrets; print(secrets.token_hex(32))\"")
    redirect = auth.get("redirect_uri")
    if isinstance(redirect, str) and redirect and not redirect.rstrip("/").endswith("/oauth2callback"):
        problems.append(f"the redirect_uri in {secrets} must end with /oauth2callback, got {redirect!r}")
    return problems


def project_options(path: Path = PROJECT_CONFIG) -> dict[str, object]:
    """The project's config.toml as Streamlit option names: {"server.maxUploadSize": 500, ...}."""
    document = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return {f"{section}.{key}": value for section, table in document.items() if isinstance(table, dict)
            for key, value in table.items()}


def option_flags(options: dict[str, object]) -> list[str]:
    """Streamlit command-line flags for these options: ["--server.port", "8501", ...]."""
    flags = []
    for name, value in options.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        flags += [f"--{name}", text]
    return flags


def secrets_file_notes(secrets: Path) -> list[str]:
    """A secrets file others on the machine can read gives away the cookie secret, and with it anyone's sign-in."""
    mode = secrets.stat().st_mode & 0o777
    if mode & 0o077:
        return [f"{secrets} can be read by other users of this machine (mode {mode:o}); its cookie secret lets anyone "
                f"who reads it sign in as anyone: chmod 600 {secrets}"]
    return []


def _redirect_uri(secrets: Path) -> str:
    return str(tomllib.loads(secrets.read_text(encoding="utf-8"))["auth"]["redirect_uri"])


def scope_notes(config: DeployConfig, roles) -> list[str]:
    """Check every scope against the build's columns; note scopes that match no account (a misspelt name?)."""
    if not config.database.exists():
        return [f"no database at {config.database} yet: the scopes in {config.roles} are checked once one is built"]
    notes = []
    con = duckdb.connect(str(config.database), read_only=True)
    try:
        if problem := schema_problem(con):  # its columns are not this version's: the app will say the same
            return [f"{config.database}: {problem} The scopes in {config.roles} are checked once it is rebuilt."]
        columns = filterable_columns(con)
        check_scopes(roles, columns)
        for access in roles.entries():
            if not access.scope:
                continue
            predicate, params = filter_predicate(parse_filters(list(access.scope), columns))
            (count,) = execute_template(con, "scope_account_count", params, predicate=predicate).fetchone()
            if count == 0:
                notes.append(f"{config.roles}, line {access.line}: no account matches the scope of {access.who} "
                             f"({', '.join(access.scope)}); they will see empty pages")
    finally:
        con.close()
    return notes


def plan_serve(config: DeployConfig) -> ServePlan:
    """Check the deployment and say how to start it; DeployError or RolesError when it must not start."""
    problems = sign_in_problems(config.secrets)
    env = {ENV_DB: str(config.database)}
    notes: list[str] = []
    if problems:
        if not is_local_address(config.address):
            raise DeployError(
                f"refusing to serve on {config.address}: sign-in is not configured ({'; '.join(problems)}). "
                f"Without it anyone who can reach port {config.port} sees every account's revenue and can upload "
                f"data and rebuild. Add the [auth] section (README, Shared mode), or serve on localhost.")
        notes.append(f"sign-in is not configured ({'; '.join(problems)}): serving without it, as `make run` does, "
                     f"on {config.address}, which only this machine can reach")
        shared = False
    else:
        from streamlit.auth_util import is_authlib_installed

        if not is_authlib_installed():
            raise DeployError("sign-in needs Authlib: pip install 'streamlit[auth]' (or `make setup`)")
        roles = load_roles(config.roles)
        notes.extend(scope_notes(config, roles))
        redirect = _redirect_uri(config.secrets)
        if redirect.startswith("http://") and not is_local_address(config.address):
            notes.append(f"the sign-in redirect {redirect} is plain http: put the server behind an HTTPS reverse "
                         "proxy that marks cookies Secure (README, Shared mode) before anyone signs in over a network")
        env.update({ENV_ROLES: str(config.roles), ENV_AUDIT_LOG: str(config.audit_log)})
        if redirect.startswith("https://"):
            env[ENV_HTTPS] = "1"
        shared = True
    options = {**project_options(),
               "server.address": config.address, "server.port": config.port, "server.headless": True,
               "browser.gatherUsageStats": False,
               # an error Streamlit shows itself (the app shows its own with an id) names no server path nor data
               "client.showErrorDetails": "none"}
    if config.base_url_path:
        options["server.baseUrlPath"] = config.base_url_path
    if shared:
        options.update(SHARED_OPTIONS)
        notes.extend(secrets_file_notes(config.secrets))
    argv = [sys.executable, "-m", "streamlit", "run", str(SHARED_APP if shared else APP),
            "--secrets.files", str(config.secrets), *option_flags(options)]
    return ServePlan(argv=argv, env=env, shared=shared, notes=notes)
