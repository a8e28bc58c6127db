"""How a digest or an alert leaves the machine: real SMTP (aiosmtpd, with STARTTLS and a login), a Slack-like
webhook (http.server) and a folder, all on loopback; every failure is a DeliveryError that says where and never
carries a secret."""

from __future__ import annotations

import email
import email.policy
import json
import re
import socket
import ssl
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from dashboard.reports.delivery import (
    Attachment, DeliveryError, FolderChannel, Message, SlackChannel, SmtpChannel, safe_key,
)

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"  # every byte value: a re-encoding would show
MESSAGE = Message(
    key="weekly-2026-W48-maria@example.com-b1234",
    recipient="maria@example.com",
    subject="Retention digest, week 48",
    text="Churn this week: 1.2% (last week 1.4%).\nThree accounts at risk.\n",
    attachments=(Attachment("overview.pdf", PDF, "application/pdf"),),
)
USER, PASSWORD = "digest", "correct-horse-battery-staple"


def free_port() -> int:
    """A port nothing listens on: aiosmtpd's Controller cannot take port 0 (its readiness check connects to the
    port it was given), so one is picked by binding to port 0 and letting go."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def body_of(mail: email.message.EmailMessage) -> str:
    """The plain-text body with LF line ends: on the wire and in an .eml file lines end with CRLF."""
    return mail.get_body(("plain",)).get_content().replace("\r\n", "\n")


def attachments_of(mail: email.message.EmailMessage) -> dict[str, tuple[str, bytes]]:
    return {part.get_filename(): (part.get_content_type(), part.get_content()) for part in mail.iter_attachments()}


# --- SMTP ---------------------------------------------------------------------------------------------------------

class Recorder:
    """An aiosmtpd handler that keeps what arrived, whether it came over TLS and after a login."""

    def __init__(self, refuse: str | None = None) -> None:
        self.envelopes: list[dict] = []
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                               "content": envelope.content, "tls": session.ssl is not None,
                               "authenticated": bool(session.authenticated)})
        return "250 Message accepted for delivery"


def accept_one_user(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> dict[str, Path]:
    """A private CA and a certificate it signed for localhost (and 127.0.0.1): what a deployment with its own CA
    has, and the form Python's stricter verification (3.13's VERIFY_X509_STRICT) accepts."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = datetime.now(timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test delivery CA")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return paths


@pytest.fixture
def smtp_server(request):
    """Starts aiosmtpd servers on 127.0.0.1 (free ports) and stops each at the end of the test:
    `smtp_server(handler, **SMTP keyword arguments)` returns the port."""
    controllers: list[Controller] = []

    def start(handler: Recorder, **smtp_kwargs) -> int:
        # server_hostname: otherwise aiosmtpd asks DNS for this machine's full name (slow on some machines)
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), server_hostname="localhost",
                                ready_timeout=5, **smtp_kwargs)
        controller.start()
        controllers.append(controller)
        return controller.port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def tls_server(smtp_server, certificates):
    """A server like a real submission port: STARTTLS required before anything else, AUTH only after it, one user."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates["cert"], certificates["key"])
    recorder = Recorder()
    port = smtp_server(recorder, tls_context=context, require_starttls=True, auth_require_tls=True,
                       authenticator=accept_one_user)
    return recorder, port


def test_an_email_arrives_with_its_recipient_subject_body_and_the_pdf_intact(smtp_server):
    recorder = Recorder()
    port = smtp_server(recorder)
    channel = SmtpChannel("127.0.0.1", port, sender="retention@example.com", starttls=False)

    assert channel.send(MESSAGE) == f"smtp 127.0.0.1:{port}"

    [arrived] = recorder.envelopes
    assert arrived["to"] == ["maria@example.com"] and arrived["from"] == "retention@example.com"
    mail = parsed(arrived["content"])
    assert (mail["To"], mail["From"], mail["Subject"]) == (
        "maria@example.com", "retention@example.com", "Retention digest, week 48")
    assert mail["Date"] and mail["Message-ID"].endswith("@example.com>")
    assert body_of(mail) == MESSAGE.text
    assert attachments_of(mail) == {"overview.pdf": ("application/pdf", PDF)}


def test_starttls_with_a_login_sends_over_tls_to_a_server_signed_by_our_own_ca(tls_server, certificates):
    recorder, port = tls_server
    channel = SmtpChannel("localhost", port, sender="retention@example.com", username=USER, password=PASSWORD,
                          cafile=str(certificates["ca"]))

    channel.send(MESSAGE)

    [arrived] = recorder.envelopes
    assert arrived["tls"] and arrived["authenticated"]
    assert attachments_of(parsed(arrived["content"]))["overview.pdf"][1] == PDF


def test_a_certificate_we_do_not_trust_stops_the_delivery_before_the_login(tls_server):
    recorder, port = tls_server
    channel = SmtpChannel("localhost", port, sender="retention@example.com", username=USER, password=PASSWORD)

    with pytest.raises(DeliveryError, match=f"SMTP server localhost:{port}.*certificate.*cafile") as failure:
        channel.send(MESSAGE)

    assert PASSWORD not in str(failure.value) and recorder.envelopes == []


def test_a_server_without_starttls_gets_nothing_when_credentials_are_set(smtp_server):
    recorder = Recorder()
    port = smtp_server(recorder)  # no tls_context: it offers no STARTTLS
    channel = SmtpChannel("127.0.0.1", port, sender="retention@example.com", username=USER, password=PASSWORD)

    with pytest.raises(DeliveryError, match=f"127.0.0.1:{port}.*does not offer STARTTLS") as failure:
        channel.send(MESSAGE)

    assert "maria@example.com" in str(failure.value) and PASSWORD not in str(failure.value)
    assert recorder.envelopes == []


def test_a_wrong_password_is_a_delivery_error_that_does_not_repeat_the_password(tls_server, certificates):
    recorder, port = tls_server
    wrong = "wrong-" + PASSWORD
    channel = SmtpChannel("localhost", port, sender="retention@example.com", username=USER, password=wrong,
                          cafile=str(certificates["ca"]))

    with pytest.raises(DeliveryError, match="refused the login.*username and password") as failure:
        channel.send(MESSAGE)

    assert wrong not in str(failure.value) and wrong not in repr(channel)
    # no chained exception either: a log that prints the traceback shows nothing more
    assert failure.value.__cause__ is None and failure.value.__context__ is None
    assert recorder.envelopes == []


@pytest.mark.parametrize("channel, why", [
    (SmtpChannel("127.0.0.1", 1, sender="r@example.com", username=USER, password=PASSWORD, starttls=False),
     "without STARTTLS: the password would cross"),
    (SmtpChannel("smtp.example.com", 25, sender="r@example.com", starttls=False),
     "not on this machine"),
])
def test_plain_smtp_is_refused_before_connecting_unless_local_and_without_credentials(channel, why):
    started = time.monotonic()
    with pytest.raises(DeliveryError, match=why) as failure:
        channel.send(MESSAGE)
    assert time.monotonic() - started < 0.5 and PASSWORD not in str(failure.value)


def test_a_refused_recipient_names_the_recipient_and_the_server(smtp_server):
    recorder = Recorder(refuse="maria@example.com")
    port = smtp_server(recorder)
    channel = SmtpChannel("127.0.0.1", port, sender="retention@example.com", starttls=False)

    with pytest.raises(DeliveryError, match=f"maria@example.com through SMTP server 127.0.0.1:{port}.*550"):
        channel.send(MESSAGE)


def test_nothing_listening_is_a_quick_delivery_error_naming_host_and_port():
    port = free_port()
    channel = SmtpChannel("127.0.0.1", port, sender="retention@example.com", starttls=False, timeout_seconds=1)

    started = time.monotonic()
    with pytest.raises(DeliveryError, match=f"SMTP server 127.0.0.1:{port}.*refused.*running and listening"):
        channel.send(MESSAGE)
    assert time.monotonic() - started < 1


def test_a_server_that_never_answers_is_a_timeout_not_a_hang():
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) but never says hello
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        channel = SmtpChannel("127.0.0.1", port, sender="r@example.com", starttls=False, timeout_seconds=0.3)

        started = time.monotonic()
        with pytest.raises(DeliveryError, match=f"127.0.0.1:{port}.*no answer within 0.3 s"):
            channel.send(MESSAGE)
        assert time.monotonic() - started < 2


# --- Slack --------------------------------------------------------------------------------------------------------

SECRET_PATH = "/services/T0000/B0000/XXXXsecretXXXX"


@pytest.fixture
def webhook():
    """A webhook on 127.0.0.1 that records each POST; set `server.status` to change its answer."""
    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.server.posts.append({"path": self.path, "type": self.headers["Content-Type"], "body": body})
            self.send_response(self.server.status)
            self.end_headers()
            self.wfile.write(b"ok" if self.server.status == 200 else b"no_service")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    server.posts, server.status = [], 200
    # a short poll interval: shutdown() waits for the next poll (0.5 s by default)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_slack_gets_the_text_as_json_with_a_line_naming_what_only_email_carries(webhook):
    port = webhook.server_address[1]
    channel = SlackChannel(f"http://127.0.0.1:{port}{SECRET_PATH}")

    assert channel.send(MESSAGE) == f"slack 127.0.0.1:{port}"

    [post] = webhook.posts
    assert post["path"] == SECRET_PATH and post["type"].startswith("application/json")
    text = json.loads(post["body"])["text"]
    assert text.startswith(MESSAGE.text.rstrip())
    assert text.splitlines()[-1] == "Attached in the e-mail and folder deliveries: overview.pdf"


def test_slack_markup_in_the_text_cannot_ping_the_channel(webhook):
    channel = SlackChannel(f"http://127.0.0.1:{webhook.server_address[1]}{SECRET_PATH}")
    channel.send(Message("k", "x@example.com", "s", "Account <!channel> & co > 3 tickets"))
    assert json.loads(webhook.posts[0]["body"])["text"] == "Account &lt;!channel&gt; &amp; co &gt; 3 tickets"


def test_a_failing_webhook_names_its_host_and_status_but_not_its_secret_path(webhook):
    webhook.status = 500
    port = webhook.server_address[1]
    channel = SlackChannel(f"http://127.0.0.1:{port}{SECRET_PATH}")

    with pytest.raises(DeliveryError, match=f"Slack webhook at 127.0.0.1:{port}.*HTTP 500") as failure:
        channel.send(MESSAGE)

    assert "XXXXsecretXXXX" not in str(failure.value) and "/services" not in str(failure.value)
    assert "XXXXsecretXXXX" not in repr(channel)


def test_nothing_listening_for_the_webhook_is_a_delivery_error():
    port = free_port()
    with pytest.raises(DeliveryError, match=f"127.0.0.1:{port}.*could not connect") as failure:
        SlackChannel(f"http://127.0.0.1:{port}{SECRET_PATH}", timeout_seconds=1).send(MESSAGE)
    assert "XXXXsecretXXXX" not in str(failure.value)


@pytest.mark.parametrize("url", [
    f"http://hooks.example.com{SECRET_PATH}", "file:///etc/passwd", f"ftp://hooks.example.com{SECRET_PATH}",
    "https:///no-host",
])
def test_a_webhook_url_that_is_not_https_is_refused_without_any_request(url, monkeypatch):
    requests: list = []
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", lambda *args, **kwargs: requests.append(args))

    with pytest.raises(DeliveryError, match="must be https") as failure:
        SlackChannel(url).send(MESSAGE)

    assert requests == [] and "XXXXsecretXXXX" not in str(failure.value)


# --- Folder -------------------------------------------------------------------------------------------------------

def test_the_folder_gets_an_eml_a_mail_client_opens_and_the_attachment_beside_it(tmp_path):
    folder = tmp_path / "deliveries" / "weekly"  # made on the way

    where = FolderChannel(folder).send(MESSAGE)

    eml = folder / "weekly-2026-W48-maria@example.com-b1234.eml"
    assert where == f"folder {eml}"
    mail = parsed(eml.read_bytes())
    assert mail["Subject"] == MESSAGE.subject and mail["To"] == MESSAGE.recipient
    assert body_of(mail) == MESSAGE.text
    assert attachments_of(mail) == {"overview.pdf": ("application/pdf", PDF)}
    assert (folder / "weekly-2026-W48-maria@example.com-b1234-overview.pdf").read_bytes() == PDF
    assert sorted(p.name for p in folder.iterdir()) == [  # no temporary file left behind
        "weekly-2026-W48-maria@example.com-b1234-overview.pdf", "weekly-2026-W48-maria@example.com-b1234.eml"]


def test_a_second_delivery_with_the_same_key_replaces_the_files_whole(tmp_path):
    FolderChannel(tmp_path).send(MESSAGE)
    FolderChannel(tmp_path).send(Message(MESSAGE.key, MESSAGE.recipient, "Corrected digest", "new text\n",
                                         (Attachment("overview.pdf", b"%PDF short", "application/pdf"),)))
    assert parsed((tmp_path / f"{MESSAGE.key}.eml").read_bytes())["Subject"] == "Corrected digest"
    assert (tmp_path / f"{MESSAGE.key}-overview.pdf").read_bytes() == b"%PDF short"
    assert len(list(tmp_path.iterdir())) == 2


def test_a_hostile_key_or_file_name_stays_inside_the_folder(tmp_path):
    folder = tmp_path / "out"
    hostile = Message("../../etc/passwd", "x@example.com", "s", "t",
                      (Attachment("../../evil.pdf", b"%PDF", "application/pdf"),))

    FolderChannel(folder).send(hostile)

    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["out/.._.._etc_passwd-.._.._evil.pdf", "out/.._.._etc_passwd.eml"]
    assert safe_key("..") != ".." and "/" not in safe_key("a/b\\c") and len(safe_key("k" * 1000)) <= 120


def test_a_folder_that_cannot_be_made_is_a_delivery_error_naming_it(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")

    with pytest.raises(DeliveryError, match=re.escape(f"folder {blocked / 'digests'} failed")):
        FolderChannel(blocked / "digests").send(MESSAGE)
