"""The roles file, the sign-in decision and `retention serve`'s start-up checks, without a browser.

A roles file with an error must stop the server before anyone signs in, with a message that names the
line; a non-localhost address without sign-in must not start at all. The serve command is run as a
real process, so what is checked is what an operator sees.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from pipelines.access import RolesError, check_scopes, load_roles, parse_roles
from pipelines.serve import DeployError, is_local_address, load_deploy_config, plan_serve

ROLES = textwrap.dedent("""\
    # who may sign in
    [users]
    "Maria@Example.com" = "executive"
    "sam@example.com" = "analyst"
    "lee@example.com" = "support lead"
    "dana@example.com" = { role = "csm", scope = 'csm = "Dana Ruiz"' }
    "emea@example.com" = { role = "csm", scope = ['region = "EMEA"', "plan = 'Growth'"] }
    "ops@example.com" = "admin"
    "google-oauth2|1234" = "executive"
    "sub:lea@tenant.example" = "analyst"
    """)
NOW = 1_800_000_000
VALID = {"is_logged_in": True, "exp": NOW + 600, "iss": "https://id.example.com", "sub": "u1", "iat": NOW - 5}


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_roles_file_maps_emails_and_subs_to_roles_and_scopes(tmp_path):
    roles = load_roles(write(tmp_path / "roles.toml", ROLES))

    assert roles.lookup("maria@example.com", None).role == "executive"  # e-mail compared without case
    assert roles.lookup("LEE@example.com", None).role == "support_lead"
    dana = roles.lookup("dana@example.com", "anything")
    assert (dana.role, dana.scope, dana.line) == ("csm", ("csm=Dana Ruiz",), 6)
    assert roles.lookup("emea@example.com", None).scope == ("region=EMEA", "plan=Growth")
    assert roles.lookup(None, "google-oauth2|1234").role == "executive"
    # a sub that looks like an address is listed with sub: and matched as a sub, never as an e-mail
    assert roles.lookup(None, "lea@tenant.example").role == "analyst"
    assert roles.lookup("lea@tenant.example", "someone-else") is None
    # a claim that is not text names nobody
    assert roles.lookup(["dana@example.com"], None) is None and roles.lookup(None, 1234) is None
    assert roles.lookup("stranger@example.com", "u9") is None
    assert roles.lookup("ops@example.com", None).allows("rebuild")
    assert not roles.lookup("sam@example.com", None).allows("rebuild")
    assert roles.lookup("sam@example.com", None).allows("raw_tables")
    assert not roles.lookup("lee@example.com", None).allows("account_downloads")


@pytest.mark.parametrize("text, line, words", [
    ('[users]\n"a@example.com" = "executive"\n"b@example.com" = executive\n', 3, "not valid TOML"),
    ('[users]\n"a@example.com" = "executive"\n\n"b@example.com" = "manager"\n', 4, "unknown role 'manager'"),
    ('[users]\n"a@example.com" = "executive"\n"dana@example.com" = "csm"\n', 3, "csm without a scope"),
    ('[users]\n"dana@example.com" = { role = "csm", scope = "csm Dana" }\n', 2, "is not COLUMN = \"VALUE\""),
    ('[users]\n"x@example.com" = "executive"\n"a@example.com" = { role = "admin", scope = \'region = "EMEA"\' }\n',
     3, "only a csm has a scope"),
    ('[users]\n"a@example.com" = "executive"\n"A@example.com" = "admin"\n', 3, "listed twice"),
    ('[users]\n"u1" = "executive"\n"sub:u1" = "admin"\n', 3, "listed twice"),
    ('[users]\n"a@example.com" = "executive"\n"sub:" = "admin"\n', 3, "names no sub"),
])
def test_roles_file_errors_name_the_line(tmp_path, text, line, words):
    path = write(tmp_path / "roles.toml", text)

    with pytest.raises(RolesError) as error:
        load_roles(path)

    assert f"line {line}" in str(error.value) and words in str(error.value), str(error.value)
    assert str(path) in str(error.value)


def test_scope_must_name_a_column_of_the_build(tmp_path, small_demo_database):
    import duckdb

    from pipelines.filters import filterable_columns

    roles = parse_roles('[users]\n"a@example.com" = "executive"\n'
                        '"x@example.com" = { role = "csm", scope = \'owner = "X"\' }\n', tmp_path / "roles.toml")
    with duckdb.connect(str(small_demo_database[0]), read_only=True) as con:
        columns = filterable_columns(con)
    with pytest.raises(RolesError, match=r"line 3: the scope of 'x@example.com' cannot be applied.*unknown column"):
        check_scopes(roles, columns)
    check_scopes(load_roles(write(tmp_path / "ok.toml", ROLES)), columns)  # csm, region and plan are columns


def test_sign_in_is_let_in_only_with_a_valid_token_of_a_listed_person(tmp_path):
    from dashboard.auth import EXPIRED, LET_IN, NOT_AUTHORISED, SIGNED_OUT, resolve

    roles = load_roles(write(tmp_path / "roles.toml", ROLES))
    dana = {**VALID, "email": "dana@example.com", "email_verified": True}

    assert resolve({}, roles, NOW) == (None, SIGNED_OUT)
    access, verdict = resolve(dana, roles, NOW)
    assert verdict == LET_IN and access.scope == ("csm=Dana Ruiz",)
    assert resolve({**dana, "exp": NOW}, roles, NOW) == (None, EXPIRED)
    assert resolve({**dana, "exp": None}, roles, NOW) == (None, EXPIRED)
    assert resolve(dana, roles, NOW, signed_out=True) == (None, SIGNED_OUT)
    assert resolve({**dana, "email": "stranger@example.com"}, roles, NOW) == (None, NOT_AUTHORISED)
    assert resolve({**VALID, "sub": "google-oauth2|1234"}, roles, NOW)[1] == LET_IN
    assert resolve({**VALID, "sub": "lea@tenant.example"}, roles, NOW)[1] == LET_IN


@pytest.mark.parametrize("verified", [False, "false", "true", 1, None, [True], "missing"])
def test_an_email_counts_only_when_the_provider_says_it_verified_it_with_a_true_boolean(verified):
    """A provider that sends "false" as text, or no claim at all (Entra ID), gets its people matched by sub only."""
    from dashboard.auth import NOT_AUTHORISED, named, resolve

    roles = parse_roles(ROLES, Path("roles.toml"))
    claims = {**VALID, "email": "ops@example.com"}
    if verified != "missing":
        claims["email_verified"] = verified

    assert resolve(claims, roles, NOW) == (None, NOT_AUTHORISED)
    assert named(claims) == "u1"  # the sub: the claimed address is not who this is
    assert resolve({**claims, "email_verified": True}, roles, NOW)[0].role == "admin"


@pytest.mark.parametrize("email", [["ops@example.com"], {"a": 1}, 42, None])
def test_an_email_claim_that_is_not_text_names_nobody_and_fails_nothing(email):
    from dashboard.auth import NOT_AUTHORISED, named, resolve

    claims = {**VALID, "email": email, "email_verified": True}
    assert resolve(claims, parse_roles(ROLES, Path("roles.toml")), NOW) == (None, NOT_AUTHORISED)
    assert named(claims) == "u1"


def test_a_roles_file_that_cannot_be_read_lets_nobody_in_with_a_message(tmp_path):
    path = write(tmp_path / "roles.toml", ROLES)
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):  # root reads anything: a folder in its place cannot be read by anyone
            path.chmod(0o600)
            path.unlink()
            path.mkdir()
        with pytest.raises(RolesError, match="cannot be read"):
            load_roles(path)
    finally:
        if path.is_file():
            path.chmod(0o600)


@pytest.mark.parametrize("address, local", [("localhost", True), ("127.0.0.1", True), ("::1", True),
                                            ("0.0.0.0", False), ("", False), ("10.0.0.5", False),
                                            ("retention.example.com", False)])
def test_local_addresses(address, local):
    assert is_local_address(address) is local


SECRETS = """\
    [auth]
    redirect_uri = "https://retention.example.com/oauth2callback"
    cookie_secret = "{secret}"
    client_id = "retention"
    client_secret = "s3cret"
    server_metadata_url = "https://id.example.com/.well-known/openid-configuration"
    """


def deployment(folder: Path, address: str, secrets: str | None = SECRETS, roles: str = ROLES,
               secret: str = "x" * 40, database: Path | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "roles.toml", roles)
    if secrets is not None:
        write(folder / "secrets.toml", secrets.format(secret=secret))
    db = database or folder / "missing.duckdb"
    return write(folder / "deploy.toml", f'address = "{address}"\nport = 8502\ndatabase = "{db}"\n')


def test_plan_for_a_shared_server_passes_roles_audit_log_and_secrets(tmp_path, small_demo_database):
    config = load_deploy_config(deployment(tmp_path, "0.0.0.0", database=small_demo_database[0]))
    plan = plan_serve(config)

    assert plan.shared
    # its redirect URI is https: the app marks its cookies Secure and sends HSTS (dashboard/server_guard.py)
    assert plan.env == {"RETENTION_DB": str(small_demo_database[0]), "RETENTION_ROLES": str(tmp_path / "roles.toml"),
                        "RETENTION_AUDIT_LOG": str(tmp_path / "audit.jsonl"), "RETENTION_HTTPS": "1"}
    assert plan.argv[plan.argv.index("--server.address") + 1] == "0.0.0.0"
    assert plan.argv[plan.argv.index("--secrets.files") + 1] == str(tmp_path / "secrets.toml")
    assert not any("no account matches" in n for n in plan.notes)  # every demo scope selects accounts
    # the shared server: the app behind the guard, with no table toolbar export and no agent API
    assert plan.argv[plan.argv.index("run") + 1].endswith("dashboard/shared_server.py")
    option = {plan.argv[i][2:]: plan.argv[i + 1] for i in range(len(plan.argv)) if plan.argv[i].startswith("--")}
    assert option["client.disableDataExport"] == "true" and option["server.enableAgentApi"] == "false"
    assert option["client.showErrorDetails"] == "none"


def test_serve_passes_the_projects_streamlit_settings_wherever_it_is_started(tmp_path, small_demo_database,
                                                                           monkeypatch):
    """Streamlit reads .streamlit/config.toml only from the folder it starts in: started elsewhere, the shared
    server capped uploads at Streamlit's 200 MB while the Data page said 500."""
    monkeypatch.chdir(tmp_path)
    plan = plan_serve(load_deploy_config(deployment(tmp_path, "127.0.0.1", database=small_demo_database[0])))
    settings = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit/config.toml").read_text())

    option = {plan.argv[i][2:]: plan.argv[i + 1] for i in range(len(plan.argv)) if plan.argv[i].startswith("--")}
    assert option["server.maxUploadSize"] == str(settings["server"]["maxUploadSize"])
    assert option["server.address"] == "127.0.0.1"  # the deployment's own settings win over the project's


def test_serve_warns_of_a_secrets_file_others_can_read(tmp_path, small_demo_database):
    config = load_deploy_config(deployment(tmp_path, "127.0.0.1", database=small_demo_database[0]))
    config.secrets.chmod(0o644)
    assert any("chmod 600" in note for note in plan_serve(config).notes)
    config.secrets.chmod(0o600)
    assert not any("chmod 600" in note for note in plan_serve(config).notes)


@pytest.mark.parametrize("secrets, secret, why", [
    (None, "x" * 40, "no secrets file"),
    ("[server]\n", "x" * 40, "has no [auth] section"),
    (SECRETS.replace('    client_id = "retention"\n', ""), "x" * 40, "has no client_id"),
    (SECRETS, "short", "shorter than 32 characters"),
])
def test_plan_refuses_a_network_address_without_sign_in(tmp_path, secrets, secret, why):
    config = load_deploy_config(deployment(tmp_path, "0.0.0.0", secrets=secrets, secret=secret))

    with pytest.raises(DeployError, match="refusing to serve on 0.0.0.0") as error:
        plan_serve(config)
    assert why in str(error.value)


def test_plan_on_localhost_without_sign_in_is_the_laptop_mode(tmp_path):
    plan = plan_serve(load_deploy_config(deployment(tmp_path, "localhost", secrets=None)))

    assert not plan.shared and "RETENTION_ROLES" not in plan.env
    assert any("serving without it" in note for note in plan.notes)


def run_serve(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "serve", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[1])


@pytest.mark.parametrize("roles, line, words", [
    ('[users]\n"a@example.com" = "executive"\n"b@example.com" = { role = "csm", scope = \n', 3, "not valid TOML"),
    ('# roles\n[users]\n"a@example.com" = "executive"\n"b@example.com" = "superuser"\n', 4,
     "unknown role 'superuser'"),
])
def test_serve_stops_on_a_bad_roles_file_naming_the_line(tmp_path, roles, line, words):
    result = run_serve(deployment(tmp_path, "0.0.0.0", roles=roles))

    assert result.returncode == 2
    assert f"line {line}" in result.stderr and words in result.stderr, result.stderr
    assert "The server was not started." in result.stderr
    assert "Serving" not in result.stdout


def test_serve_refuses_a_network_address_without_sign_in(tmp_path):
    result = run_serve(deployment(tmp_path, "0.0.0.0", secrets=None))

    assert result.returncode == 2
    assert "refusing to serve on 0.0.0.0" in result.stderr and "sees every account's revenue" in result.stderr


def test_the_example_deployment_parses_and_its_scopes_fit_the_demo(small_demo_database):
    """deploy/ is what docs/shared-mode.md tells a newcomer to copy: its files must parse, its csm scopes must select
    demo accounts, and the secrets template must be refused until it is filled in."""
    from pipelines.serve import scope_notes, sign_in_problems

    root = Path(__file__).resolve().parents[1] / "deploy"
    config = load_deploy_config(root / "deploy.toml")
    assert (config.address, config.port, config.roles) == ("localhost", 8501, root / "roles.toml")
    roles = load_roles(config.roles)
    assert roles.lookup("dana@example.com", None).scope == ("csm=Dana Ruiz",)
    on_the_demo = dataclasses.replace(config, database=small_demo_database[0])
    assert scope_notes(on_the_demo, roles) == []  # every example scope selects some demo accounts
    assert any("shorter than 32 characters" in p for p in sign_in_problems(root / "secrets.toml.example"))
