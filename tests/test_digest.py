"""The digests and alerts as the people who get them rely on them: each person hears about their own accounts with the
app's figures, once; a failed delivery is tried again without repeating the others; an alert fires once on a spike
and not on quiet months; a digest file with a mistake names its line.

The mail server (aiosmtpd, STARTTLS and a login, as a submission port) and the Slack stand-in (an HTTP server) listen
on loopback only."""

from __future__ import annotations

import io
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

from conftest import require_pdf, run_app
from dashboard.reports import alerts, digest
from dashboard.reports.command import main
from dashboard.reports.digest_config import DigestConfigError, load_digest_config
from test_app_access import claims
from test_delivery import PASSWORD, USER, attachments_of, body_of, certificates, parsed  # noqa: F401
from test_delivery import smtp_server, tls_server  # noqa: F401  (fixtures used here)

PEOPLE = {"maria@example.com": "executive", "lee@example.com": "support_lead",
          "dana@example.com": "csm", "lea@example.com": "csm"}
ROLES = """[users]
"maria@example.com" = "executive"
"lee@example.com" = "support_lead"
"dana@example.com" = { role = "csm", scope = 'csm = "Dana Ruiz"' }
"lea@example.com" = { role = "csm", scope = ['region = "EMEA"', 'csm = "Lea Martin"'] }
"""
ACCOUNT_ID = re.compile(r"\bA\d{6}\b")


class Hooks(BaseHTTPRequestHandler):
    """Slack's incoming webhooks, one path per person; `server.failing` names paths that answer 500."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 500 if self.path in self.server.failing else 200
        if status == 200:
            self.server.posts.append((self.path, json.loads(body)["text"]))
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def slack():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    server.posts, server.failing = [], set()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def mail_server(tls_server):  # noqa: F811
    """A submission port: STARTTLS before anything else, a login after it (test_delivery's)."""
    return tls_server


def write_deployment(folder, database, smtp_port: int, cafile, slack_port: int, alerts_toml: str = "",
                     channels: str = '["smtp", "slack", "folder"]', people: list[str] | None = None):
    (folder / "roles.toml").write_text(ROLES, encoding="utf-8")
    (folder / "deploy.toml").write_text(
        f'database = "{database}"\nroles = "roles.toml"\naudit_log = "audit.jsonl"\nsecrets = "secrets.toml"\n',
        encoding="utf-8")
    hooks = "\n".join(f'"{who}" = "http://127.0.0.1:{slack_port}/hooks/{who.split("@")[0]}"' for who in PEOPLE)
    (folder / "secrets.toml").write_text(
        f'[smtp]\nusername = "{USER}"\npassword = "{PASSWORD}"\n\n[slack.webhooks]\n{hooks}\n', encoding="utf-8")
    config = folder / "digest.toml"
    config.write_text(
        f'deploy = "deploy.toml"\nperiod = "weekly"\nchannels = {channels}\ntop_at_risk = 5\n'
        + (f"people = {json.dumps(people)}\n" if people else "") + "\n"
        f'[smtp]\nhost = "localhost"\nport = {smtp_port}\nsender = "retention@example.com"\ncafile = "{cafile}"\n'
        f'timeout_seconds = 3\n\n[folder]\npath = "outbox"\n\n{alerts_toml}', encoding="utf-8")
    return config


@pytest.fixture
def deployment(tmp_path, small_demo_database, mail_server, slack, certificates):  # noqa: F811
    require_pdf()  # each digest carries the overview PDF
    recorder, port = mail_server
    config = write_deployment(tmp_path, small_demo_database[0], port, certificates["ca"], slack.server_address[1])
    return config, recorder, slack


def only(config, people: list[str]) -> None:
    """Narrow the digest file to these people (each digest takes a second or so to make)."""
    config.write_text(config.read_text().replace("top_at_risk = 5\n", f"top_at_risk = 5\npeople = {json.dumps(people)}\n"))


def mails_by_recipient(recorder) -> dict[str, object]:
    out = {}
    for envelope in recorder.envelopes:
        [to] = envelope["to"]
        assert to not in out, f"{to} got two mails"
        assert envelope["tls"] and envelope["authenticated"]
        out[to] = parsed(envelope["content"])
    return out


def pdf_text(content: bytes) -> str:
    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages))


def shown_tiles(monkeypatch, database, roles_path, who: str) -> dict[str, str]:
    """The overview's tiles as `who` sees them in the shared app."""
    monkeypatch.setenv("RETENTION_DB", str(database))
    monkeypatch.setenv("RETENTION_ROLES", str(roles_path))
    at = run_app("overview", user=claims(who))
    return {m.label: m.value for m in at.metric}


def test_each_person_gets_their_own_digest_with_the_apps_figures_once(deployment, small_demo_database, monkeypatch,
                                                                      capsys):
    config, recorder, slack = deployment
    assert main(["digest", "--config", str(config), "--on", "2026-12-07"]) == 0
    mails = mails_by_recipient(recorder)
    assert set(mails) == set(PEOPLE)

    with duckdb.connect(str(small_demo_database[0]), read_only=True) as con:
        csm_of = dict(con.execute("select account_id, csm from stg_account_segments").fetchall())
    for who, book in (("maria@example.com", None), ("dana@example.com", "Dana Ruiz"), ("lea@example.com", "Lea Martin")):
        mail = mails[who]
        text = body_of(mail)
        tiles = shown_tiles(monkeypatch, small_demo_database[0], config.parent / "roles.toml", who)
        # the digest's figures are the app's for the same person
        assert f"- Active accounts: {tiles['Active accounts']}\n" in text
        assert f"- ARR: {tiles['ARR']}\n" in text
        assert f"- Net revenue retention (12 months): {tiles['Net revenue retention (12 months)']}" in text
        assert "this is your first digest" in text and mail["Subject"].startswith("Retention digest 2026-W50: ")
        listed = ACCOUNT_ID.findall(text)
        assert len(listed) == 5  # the first digest lists the riskiest five
        if book:  # a csm's digest names only accounts of their book
            assert {csm_of[a] for a in listed} == {book}
        [(name, (kind, content))] = attachments_of(mail).items()
        assert name == "retention-overview-2026-W50.pdf" and kind == "application/pdf"
        printed = pdf_text(content)
        assert f"Active accounts {tiles['Active accounts']}" in printed
        assert (f"CSM = {book}" in printed) if book else ("all accounts" in printed), (who, printed[:300], printed[-400:])
    lee = body_of(mails["lee@example.com"])
    assert not ACCOUNT_ID.search(lee) and "Your role gets no account lists by e-mail" in lee

    # Slack: each person's own webhook, the same text; the folder: one .eml and one PDF each
    assert sorted(path for path, _ in slack.posts) == sorted(f"/hooks/{w.split('@')[0]}" for w in PEOPLE)
    outbox = config.parent / "outbox"
    assert len(list(outbox.glob("*.eml"))) == 4 and len(list(outbox.glob("*.pdf"))) == 4
    events = [json.loads(line) for line in (config.parent / "audit.jsonl").read_text().splitlines()]
    assert sorted((e["who"], e["channel"]) for e in events if e["event"] == "digest_sent") == sorted(
        (w, c) for w in PEOPLE for c in ("smtp", "slack", "folder"))

    # the same period and build again: nothing goes out twice
    files = sorted(p.name for p in outbox.iterdir())
    capsys.readouterr()
    assert main(["digest", "--config", str(config), "--on", "2026-12-09"]) == 0
    assert len(recorder.envelopes) == 4 and len(slack.posts) == 4 and sorted(p.name for p in outbox.iterdir()) == files
    assert capsys.readouterr().out.count("already sent") == 12


def test_a_failed_delivery_is_tried_again_without_repeating_the_others(deployment, capsys):
    config, recorder, slack = deployment
    slack.failing.add("/hooks/lea")
    assert main(["digest", "--config", str(config), "--on", "2026-12-07"]) == 1
    printed = capsys.readouterr()
    assert "lea@example.com by slack: failed" in printed.out and "127.0.0.1" in printed.out
    assert "/hooks/lea" not in printed.out  # a webhook's path is its secret
    assert len(recorder.envelopes) == 4 and len(slack.posts) == 3

    slack.failing.clear()
    assert main(["digest", "--config", str(config), "--on", "2026-12-08"]) == 0
    assert len(recorder.envelopes) == 4 and [p for p, _ in slack.posts[3:]] == ["/hooks/lea"]


def test_an_unreachable_mail_server_fails_its_deliveries_clearly_and_blocks_nothing_else(
        tmp_path, small_demo_database, slack, certificates, capsys):  # noqa: F811
    import socket

    require_pdf()
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_deployment(tmp_path, small_demo_database[0], port, certificates["ca"], slack.server_address[1],
                              people=["maria@example.com", "dana@example.com"])
    assert main(["digest", "--config", str(config), "--on", "2026-12-07"]) == 1
    printed = capsys.readouterr()
    assert printed.out.count("by smtp: failed") == 2 and f"localhost:{port}" in printed.out
    assert PASSWORD not in printed.out + printed.err
    assert len(slack.posts) == 2 and len(list((tmp_path / "outbox").glob("*.eml"))) == 2
    failures = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert sum(e["event"] == "digest_failed" for e in failures) == 2


def test_a_dry_run_makes_everything_and_sends_and_records_nothing(deployment, capsys):
    config, recorder, slack = deployment
    only(config, ["maria@example.com", "dana@example.com"])
    assert main(["digest", "--config", str(config), "--dry-run", "--on", "2026-12-07"]) == 0
    assert capsys.readouterr().out.count("would send") == 6
    assert not recorder.envelopes and not slack.posts and not (config.parent / "outbox").exists()
    assert not (config.parent / "digest-state.json").exists() and not (config.parent / "audit.jsonl").exists()


def test_the_next_weeks_digest_says_what_changed_since_the_previous_one(deployment):
    """A new period on a new build compares with what the person was last sent: the figures' changes and the accounts
    that entered their riskiest list since."""
    config, recorder, slack = deployment
    only(config, ["maria@example.com"])
    assert main(["digest", "--config", str(config), "--on", "2026-12-07"]) == 0
    state_path = config.parent / "digest-state.json"
    state = json.loads(state_path.read_text())
    # as if the previous digest had seen fewer accounts and other riskiest accounts
    snapshot = state["snapshots"]["maria@example.com"]
    snapshot["figures"]["active_accounts"] -= 12
    snapshot["top_at_risk"] = snapshot["top_at_risk"][:2]
    state["snapshots"]["maria@example.com"] = {**snapshot, "period": "2026-W49"}
    state_path.write_text(json.dumps(state))
    assert main(["digest", "--config", str(config), "--on", "2026-12-14"]) == 0
    maria = [parsed(e["content"]) for e in recorder.envelopes if e["to"] == ["maria@example.com"]][-1]
    text = body_of(maria)
    assert "since your previous digest" in text and re.search(r"- Active accounts: [\d,]+ \(\+12\)", text)
    assert "Entered your 5 riskiest accounts since the previous digest:" in text
    assert len(ACCOUNT_ID.findall(text)) == 3 and "why:" in text


# --- alerts -----------------------------------------------------------------------------------------------------

SPIKE_RULE = alerts.Rule("Churn spike", "churned_accounts", (), "beyond_noise", "up", None, alerts.DEFAULT_NOISE_Z,
                         ("maria@example.com",))


def monthly_churn(rng, months: int, level: float, spike_at: int | None = None, spike: float = 1.0) -> pd.Series:
    """Churned accounts a month: Poisson about a slowly growing level, times `spike` in month `spike_at`."""
    rate = level * np.exp(np.linspace(0.0, 0.3, months))
    if spike_at is not None:
        rate[spike_at] *= spike
    return pd.Series(rng.poisson(rate), index=pd.date_range("2020-01-01", periods=months, freq="MS"))


def fires_over(series: pd.Series, first: int, builds_a_month: int = 1) -> list[str]:
    """Read the rule as a daily build would: each month's series is read `builds_a_month` times; the months whose
    reading told someone."""
    state, told = None, []
    for month in range(first, len(series) + 1):
        for _ in range(builds_a_month):
            reading = alerts.noise_reading(series.iloc[:month], SPIKE_RULE)
            state, fired = alerts.next_state(state, reading, f"{month}")
            if fired:
                told.append(reading.period)
    return told


def test_a_churn_spike_fires_its_alert_once_however_often_it_is_read():
    rng = np.random.default_rng(5)
    series = monthly_churn(rng, 40, 40.0, spike_at=32, spike=2.0)
    assert fires_over(series, 12, builds_a_month=30) == [f"{series.index[32]:%Y-%m}"]


@pytest.mark.parametrize("level", [8.0, 40.0, 300.0])
def test_a_hundred_quiet_months_raise_at_most_five_alerts(level):
    for seed in range(3):
        series = monthly_churn(np.random.default_rng(seed), 112, level)
        assert len(fires_over(series, 12)) <= 5, (level, seed)


def test_a_quiet_month_after_a_spike_rearms_the_alert_for_the_next_one():
    rng = np.random.default_rng(9)
    series = monthly_churn(rng, 48, 40.0)
    series.iloc[30] *= 2
    series.iloc[42] *= 2
    assert fires_over(series, 12) == [f"{series.index[30]:%Y-%m}", f"{series.index[42]:%Y-%m}"]


ALERTS = """
[[alert]]
name = "Churn above 1 a month"
metric = "churned_accounts"
rule = "threshold"
threshold = 1
notify = ["maria@example.com"]

[[alert]]
name = "Dana's book churn"
metric = "churned_accounts"
scope = 'csm = "Dana Ruiz"'
notify = ["dana@example.com", "maria@example.com"]
"""


def test_alerts_after_each_build_tell_their_people_once(tmp_path, small_demo_database, mail_server, slack,
                                                       certificates, capsys):  # noqa: F811
    recorder, port = mail_server
    config = write_deployment(tmp_path, small_demo_database[0], port, certificates["ca"], slack.server_address[1],
                              alerts_toml=ALERTS, channels='["smtp"]')
    assert main(["digest", "--config", str(config), "--alerts"]) == 0
    out = capsys.readouterr().out
    assert "alert 'Churn above 1 a month': TRIGGERED" in out and "alert \"Dana's book churn\"" in out
    [mail] = [parsed(e["content"]) for e in recorder.envelopes]
    assert mail["Subject"] == "Alert: Churn above 1 a month (all accounts)"
    assert "above the threshold of 1" in body_of(mail)
    assert main(["digest", "--config", str(config), "--alerts"]) == 0  # the next build: still high, no second mail
    assert len(recorder.envelopes) == 1
    state = json.loads((tmp_path / "digest-state.json").read_text())
    assert state["alerts"]["Churn above 1 a month"]["status"] == "triggered"
    assert state["alerts"]["Dana's book churn"]["status"] == "ok"
    events = [json.loads(line)["event"] for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert events.count("alert_fired") == 1


@pytest.mark.parametrize("text, line, words", [
    ('deploy = "deploy.toml"\nchannels = ["folder"]\ncolour = "blue"\n', 3, "unknown setting 'colour'"),
    ('deploy = "deploy.toml"\nchannels = ["fax"]\n', 2, "channels must be a list of smtp, slack, folder"),
    ('deploy = "deploy.toml"\nchannels = ["folder"]\n\n[[alert]]\nname = "a"\nmetric = "mood"\nnotify = '
     '["maria@example.com"]\n', 6, "metric must be one of"),
    ('deploy = "deploy.toml"\nchannels = ["folder"]\n\n[[alert]]\nname = "a"\nmetric = "churned_accounts"\n'
     'notify = ["maria@example.com"]\n\n[[alert]]\nname = "b"\nmetric = "churned_accounts"\n'
     'notify = ["dana@example.com"]\n', 12, "dana@example.com sees only CSM = Dana Ruiz"),
    ('deploy = "deploy.toml"\nchannels = ["folder"]\n\n[[alert]]\nname = "a"\nmetric = "arr_at_risk"\n'
     'notify = ["maria@example.com"]\n', 4, "no monthly history"),
    ('deploy = "deploy.toml"\nchannels = ["folder"\n', 2, "not valid TOML"),
    ('deploy = "deploy.toml"\nchannels = ["folder"]\npeople = ["eve@example.com"]\n', 3, "not in the roles file"),
])
def test_a_digest_file_with_a_mistake_names_its_line(tmp_path, small_demo_database, text, line, words):
    write_deployment(tmp_path, small_demo_database[0], 25, "ca.pem", 9)
    config = tmp_path / "digest.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(DigestConfigError) as error:
        load_digest_config(config)
    assert words in str(error.value)
    assert f"line {line}" in str(error.value), str(error.value)


def test_a_digest_file_that_is_not_there_says_so(tmp_path, capsys):
    assert main(["digest", "--config", str(tmp_path / "digest.toml")]) == 2
    assert "no digest file here (deploy/digest.toml shows one)" in capsys.readouterr().err


def test_slack_needs_each_persons_own_webhook(tmp_path, small_demo_database):
    """A channel's webhook would post a csm's book where others read it: each recipient needs their own."""
    write_deployment(tmp_path, small_demo_database[0], 25, "ca.pem", 9, channels='["slack"]')
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(secrets.read_text().replace('"dana@example.com" = ', '"someone@example.com" = '))
    with pytest.raises(DigestConfigError, match=r"line 3: .*no \[slack.webhooks\] entry for dana@example.com"):
        load_digest_config(tmp_path / "digest.toml")


def test_the_period_names_an_iso_week_or_a_month():
    from datetime import date

    assert digest.period_label("weekly", date(2026, 12, 31)) == "2026-W53"
    assert digest.period_label("weekly", date(2027, 1, 1)) == "2026-W53"
    assert digest.period_label("monthly", date(2027, 1, 1)) == "2027-01"


def test_the_shipped_digest_file_is_one_the_command_reads():
    """deploy/digest.toml, the example the docs point to, loads against the shipped roles file: its people, its
    channel and its three alerts (a csm's alert scoped to her book)."""
    from pathlib import Path

    config = load_digest_config(Path(__file__).resolve().parents[1] / "deploy" / "digest.toml")
    assert {r.address for r in config.recipients} == set(PEOPLE)
    assert config.channels == ("smtp",) and config.smtp is not None and config.smtp.starttls
    assert [(a.metric, a.rule) for a in config.alerts] == [
        ("churned_accounts", "beyond_noise"), ("net_revenue_retention", "beyond_noise"), ("arr_at_risk", "threshold")]


def test_a_person_whose_digest_cannot_be_made_blocks_nobody_else(deployment, capsys):
    """A csm's scope naming a column the build lacks: their digest fails with the reason; everyone else's goes out."""
    config, recorder, slack = deployment
    roles = config.parent / "roles.toml"
    roles.write_text(roles.read_text() + '"eve@example.com" = { role = "csm", scope = \'team = "Blue"\' }\n')
    secrets = config.parent / "secrets.toml"
    secrets.write_text(secrets.read_text() + '"eve@example.com" = "http://127.0.0.1:9/hooks/eve"\n')
    only(config, ["eve@example.com", "maria@example.com"])
    assert main(["digest", "--config", str(config), "--on", "2026-12-07", "--period", "monthly"]) == 1
    out = capsys.readouterr().out
    assert "eve@example.com by smtp: failed (the digest could not be made:" in out and "team" in out
    assert {e["to"][0] for e in recorder.envelopes} == {"maria@example.com"}
    assert all("2026-12" in parsed(e["content"])["Subject"] for e in recorder.envelopes)


def churn_world(spike: int | None, seed: int = 3) -> list[dict]:
    """1,500 accounts signed up in 2023; from January 2024 about 12 churn a month (Poisson), and in May 2026, the
    latest complete month at an as-of of 15 June 2026, `spike` of them instead (None: as any other month)."""
    rng = np.random.default_rng(seed)
    accounts = [{"account_id": f"A{n:06d}", "signup_date": f"2023-{n % 12 + 1:02d}-{n % 27 + 1:02d}", "churn_date": "",
                 "mrr": 100 + n % 400, "plan": ("Starter", "Growth")[n % 2]} for n in range(1500)]
    order = iter(rng.permutation(len(accounts)))
    for month in pd.date_range("2024-01-01", "2026-05-01", freq="MS"):
        churns = spike if (spike is not None and month == pd.Timestamp("2026-05-01")) else rng.poisson(12)
        for _ in range(churns):
            # from the 2nd: a churn dated the 1st counts in the month before (the account was not a customer that month)
            accounts[next(order)]["churn_date"] = f"{month:%Y-%m}-{rng.integers(2, 28):02d}"
    return accounts


@pytest.mark.parametrize("spike, fires", [(45, True), (None, False)])
def test_a_built_churn_spike_fires_its_alert_once_and_a_quiet_build_raises_none(build_rows, tmp_path, spike, fires):
    """End to end on a real build: the month of the spike is read from the build's monthly KPIs, the alert fires once
    across two runs (a second build of the same month tells nobody again), and the same world without the spike stays
    OK."""
    from datetime import date

    built = build_rows(churn_world(spike), [], as_of=date(2026, 6, 15), fit_models=False)
    database = built.result.db_path
    rule = ('[[alert]]\nname = "Churn spike"\nmetric = "churned_accounts"\nnotify = ["maria@example.com"]\n')
    config = write_deployment(tmp_path, database, 25, "ca.pem", 9, alerts_toml=rule, channels='["folder"]')
    for _ in range(2):
        assert main(["digest", "--config", str(config), "--alerts"]) == 0
    state = json.loads((tmp_path / "digest-state.json").read_text())["alerts"]["Churn spike"]
    sent = list((tmp_path / "outbox").glob("*.eml")) if (tmp_path / "outbox").exists() else []
    assert (state["status"], state["period"], len(sent)) == (("triggered" if fires else "ok"), "2026-05", int(fires))
    if fires:
        assert "churned accounts in the month was 45 in May 2026" in body_of(parsed(sent[0].read_bytes()))
