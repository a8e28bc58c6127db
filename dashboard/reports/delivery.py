"""How a digest or an alert leaves the machine: by e-mail (SMTP), to a Slack incoming webhook, or into a folder.

This module owns the delivery channels and the one format of the e-mail they share (`build_email`): the SMTP
channel sends it, the folder channel writes it as an .eml file a mail client opens. What a digest says, and whom
it goes to, is the digest module's; a channel only carries a `Message` and turns every failure into a
`DeliveryError` a person can act on (which channel, where, what to check).

Security choices:
- SMTP: with `starttls=True` (the default) the connection is upgraded with STARTTLS before anything else, and a
  server that does not offer STARTTLS is refused rather than used in the clear. The server's certificate is
  verified against the system's CAs, or against `cafile` for a deployment with its own CA. Plain SMTP is allowed
  only to a server on this machine (loopback) and only without credentials, so a password never crosses a
  network unencrypted. Error messages never carry the password, nor the exception chain they came from.
- Slack: an incoming webhook's URL path is its secret (whoever has it can post to the channel), so only https is
  accepted (http only to loopback, for tests and local relays), errors name the webhook's host and never the
  URL, and redirects are refused rather than followed (a redirected POST would be re-sent as a GET and look
  delivered).
- Folder: file names come from the message's key through a whitelist of characters, so a key cannot reach
  outside the folder, and every file appears whole or not at all (written beside, then renamed).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import secrets
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

__all__ = [
    "Attachment", "Message", "DeliveryError", "SmtpChannel", "SlackChannel", "FolderChannel", "build_email",
    "safe_key",
]

_UNSAFE_FILE_CHARACTERS = re.compile(r"[^A-Za-z0-9._@-]")
# Well under the 255-byte limit of common file systems, leaving room for "-<attachment name>" and ".eml".
_MAX_SAFE_KEY = 120


@dataclass(frozen=True)
class Attachment:
    file_name: str
    content: bytes
    mime: str  # e.g. "application/pdf"


@dataclass(frozen=True)
class Message:
    key: str  # stable id of this delivery; the folder channel's file names and the Message-ID derive from it
    recipient: str  # an e-mail address
    subject: str
    text: str  # plain-text body; also what Slack shows
    attachments: tuple[Attachment, ...] = ()


class DeliveryError(Exception):
    """One delivery failed; the message says which channel, where, and what to check. Never carries a password."""


def safe_key(key: str) -> str:
    """`key` as a file name: characters other than [A-Za-z0-9._@-] become "_", so no separator or other path
    syntax survives; a very long key is shortened and keeps a hash of the whole, so two keys stay two files."""
    safe = _UNSAFE_FILE_CHARACTERS.sub("_", key)
    # "", "." and ".." are still path syntax on their own (and "" would give a hidden ".eml")
    if safe.strip(".") == "":
        safe = "_" + safe
    if len(safe) > _MAX_SAFE_KEY:
        safe = safe[: _MAX_SAFE_KEY - 17] + "-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return safe


def build_email(message: Message, sender: str | None = None) -> EmailMessage:
    """The e-mail for `message`: the one home of the format that the SMTP and folder channels both deliver."""
    mail = EmailMessage()
    if sender is not None:
        mail["From"] = sender
    mail["To"] = message.recipient
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(datetime.now(timezone.utc))
    # Derived from the key rather than random: a retried delivery is the same message, and mail clients and
    # servers that de-duplicate by Message-ID then show it once. The domain comes from the sender rather than
    # from make_msgid's DNS lookup of this machine's name, which can be slow and says where the app runs.
    domain = sender.rpartition("@")[2] if sender and "@" in sender else "localhost"
    mail["Message-ID"] = f"<{hashlib.sha256(message.key.encode('utf-8')).hexdigest()[:32]}@{domain}>"
    mail.set_content(message.text)
    for attachment in message.attachments:
        maintype, _, subtype = attachment.mime.partition("/")
        if not maintype or not subtype:
            maintype, subtype = "application", "octet-stream"
        mail.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.file_name)
    return mail


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


@dataclass(frozen=True)
class SmtpChannel:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    cafile: str | None = None
    timeout_seconds: float = 10.0

    def __repr__(self) -> str:
        # the dataclass's own repr would print the password into any log line that shows the channel
        return (f"SmtpChannel(host={self.host!r}, port={self.port!r}, sender={self.sender!r}, "
                f"username={self.username!r}, password={'***' if self.password else None!r}, "
                f"starttls={self.starttls!r}, cafile={self.cafile!r}, timeout_seconds={self.timeout_seconds!r})")

    @property
    def _where(self) -> str:
        return f"SMTP server {_host_port(self.host, self.port)}"

    def _fail(self, message: Message, problem: str, check: str) -> DeliveryError:
        problem = _redact(problem, self.password)
        return DeliveryError(f"E-mail to {message.recipient} through {self._where} failed: {problem}. "
                             f"Check {check}.")

    def _refusal(self, message: Message) -> DeliveryError | None:
        """Why this configuration must not send at all, found before connecting."""
        if self.password is not None and self.username is None:
            return self._fail(message, "a password is set but no username, so it would never be used",
                              "the SMTP username setting")
        if not self.starttls:
            if self.username is not None:
                return self._fail(message, "refused to log in without STARTTLS: the password would cross the "
                                  "connection unencrypted", "that STARTTLS is turned on for this server")
            if not _is_loopback(self.host):
                return self._fail(message, "refused to send without STARTTLS to a server that is not on this "
                                  "machine: the message would cross the network unencrypted",
                                  "that STARTTLS is turned on, or use a relay on localhost")
        return None

    def send(self, message: Message) -> str:
        refusal = self._refusal(message)
        if refusal is not None:
            raise refusal
        try:
            mail = build_email(message, self.sender)
        except ValueError as error:  # e.g. a line break in the subject or address, which would inject headers
            raise self._fail(message, f"the message cannot be built ({error})",
                             "the recipient address and the subject") from None
        problem, check = self._deliver(mail, message)
        if problem is not None:
            raise self._fail(message, problem, check)
        return f"smtp {_host_port(self.host, self.port)}"

    def _deliver(self, mail: EmailMessage, message: Message) -> tuple[str | None, str]:
        """Sends `mail`; the problem and what to check when it fails, as text so no exception chain (with its
        frames and arguments) leaves this method attached to the DeliveryError."""
        where = _host_port(self.host, self.port)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as smtp:
                smtp.ehlo()
                if self.starttls:
                    if not smtp.has_extn("starttls"):
                        return ("the server does not offer STARTTLS, so nothing was sent rather than send it "
                                "unencrypted", "the port (587 usually offers STARTTLS) and the server's TLS setup")
                    smtp.starttls(context=ssl.create_default_context(cafile=self.cafile))
                    smtp.ehlo()
                if self.username is not None:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(mail, from_addr=self.sender, to_addrs=[message.recipient])
        except smtplib.SMTPAuthenticationError as error:
            return f"the server refused the login ({error.smtp_code})", "the SMTP username and password"
        except smtplib.SMTPNotSupportedError:
            return ("the server does not offer a login (AUTH)",
                    "whether this server needs a username, and that it offers AUTH after STARTTLS")
        except smtplib.SMTPRecipientsRefused as error:
            codes = ", ".join(f"{code} {_short(reply)}" for code, reply in error.recipients.values())
            return f"the server refused the recipient ({codes})", "the recipient address"
        except smtplib.SMTPSenderRefused as error:
            return (f"the server refused the sender {self.sender} ({error.smtp_code} {_short(error.smtp_error)})",
                    "the sender address, and that this account may send as it")
        except smtplib.SMTPResponseException as error:
            return (f"the server answered {error.smtp_code} {_short(error.smtp_error)}",
                    "the server's log for this message")
        except smtplib.SMTPServerDisconnected as error:
            # smtplib reports a read that timed out as a disconnection; the timeout is what to act on
            if isinstance(error.__context__, TimeoutError):
                return (f"no answer within {self.timeout_seconds:g} s",
                        "the host, the port (an SMTPS port such as 465 waits for TLS first) and any firewall between")
            return "the server closed the connection", "the port, and whether it expects implicit TLS (465)"
        except ssl.SSLCertVerificationError as error:
            return (f"the server's certificate could not be verified ({error.verify_message})",
                    "that the host name matches the certificate, or set cafile to the CA that signed it")
        except ssl.SSLError as error:
            return f"TLS failed ({error.reason or error})", "the server's TLS setup and the port"
        except ConnectionRefusedError:
            return "the connection was refused", f"that the server is running and listening on {where}"
        except TimeoutError:
            return (f"no answer within {self.timeout_seconds:g} s", "the host, the port and any firewall between")
        except smtplib.SMTPException as error:
            return f"{type(error).__name__}: {_short(str(error))}", "the server's settings"
        except OSError as error:
            return f"{error.strerror or error}", "the host name and the network"
        return None, ""


def _short(reply: bytes | str, limit: int = 200) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: urllib.request.Request, fp: object, code: int, msg: str, headers: object,
                         newurl: str) -> None:
        # None makes urllib raise the 3xx as an HTTPError: a webhook that moved is a setting to fix, and a POST
        # followed as a GET would look delivered
        return None


def _escape_slack(text: str) -> str:
    # Slack reads <...> as links and mentions (<!channel> pings everyone); its docs ask for exactly these three
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class SlackChannel:
    webhook_url: str
    timeout_seconds: float = 10.0

    def __repr__(self) -> str:
        # the URL's path is the webhook's secret
        return f"SlackChannel(webhook_url='<{self._where}>', timeout_seconds={self.timeout_seconds!r})"

    @property
    def _where(self) -> str:
        parts = urllib.parse.urlsplit(self.webhook_url)
        host = parts.hostname or "(no host)"
        try:
            port = parts.port
        except ValueError:
            port = None
        return _host_port(host, port) if port else host

    def _fail(self, problem: str, check: str) -> DeliveryError:
        path = urllib.parse.urlsplit(self.webhook_url).path
        problem = _redact(_redact(problem, self.webhook_url), path if len(path) > 1 else None)
        return DeliveryError(f"Slack webhook at {self._where} failed: {problem}. Check {check}.")

    def send(self, message: Message) -> str:
        parts = urllib.parse.urlsplit(self.webhook_url)
        loopback = bool(parts.hostname) and _is_loopback(parts.hostname or "")
        if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and loopback)):
            raise self._fail("refused: the webhook URL must be https (http only to this machine), since its "
                             "path is the secret that lets anyone post", "the webhook URL setting")
        text = message.text
        if message.attachments:
            # an incoming webhook takes text only; say what the reader will not find here
            names = ", ".join(attachment.file_name for attachment in message.attachments)
            text = f"{text.rstrip()}\n\nAttached in the e-mail and folder deliveries: {names}"
        body = json.dumps({"text": _escape_slack(text)}).encode("utf-8")
        request = urllib.request.Request(self.webhook_url, data=body, method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if loopback:
            # a relay on this machine is reached directly, never through an HTTP(S)_PROXY from the environment
            handlers.append(urllib.request.ProxyHandler({}))
        opener = urllib.request.build_opener(*handlers)
        problem, check = None, ""
        try:
            with opener.open(request, timeout=self.timeout_seconds) as response:
                response.read()
        except urllib.error.HTTPError as error:
            detail = _short(error.read() or b"", 100) if error.fp is not None else ""
            problem = f"HTTP {error.code}" + (f" ({detail})" if detail else "")
            check = ("that the webhook still exists and its URL is current (Slack answers 403 or 404 for a "
                     "revoked one)" if error.code in (403, 404, 410)
                     else "the webhook URL and Slack's status")
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, TimeoutError):
                problem, check = (f"no answer within {self.timeout_seconds:g} s",
                                  "the network and any proxy between")
            elif isinstance(reason, ssl.SSLCertVerificationError):
                problem, check = (f"the certificate could not be verified ({reason.verify_message})",
                                  "the system's CA certificates and any TLS-inspecting proxy")
            else:
                problem, check = (f"could not connect ({getattr(reason, 'strerror', None) or reason})",
                                  "the webhook's host name and the network")
        except TimeoutError:
            problem, check = f"no answer within {self.timeout_seconds:g} s", "the network and any proxy between"
        except OSError as error:
            problem, check = f"{error.strerror or error}", "the network"
        if problem is not None:
            raise self._fail(problem, check)
        return f"slack {self._where}"


@dataclass(frozen=True)
class FolderChannel:
    folder: Path

    def send(self, message: Message) -> str:
        folder = Path(self.folder)
        key = safe_key(message.key)
        try:
            mail = build_email(message)
        except ValueError as error:
            raise DeliveryError(f"Delivery of {message.key} to folder {folder} failed: the message cannot be "
                                f"built ({error}). Check the recipient address and the subject.") from None
        eml = folder / f"{key}.eml"
        problem = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # attachments first: whoever watches the folder for .eml files finds them already in place
            for attachment in message.attachments:
                _write_atomically(folder / f"{key}-{safe_key(attachment.file_name)}", attachment.content)
            # CRLF line ends: the RFC 5322 form of a message, which every mail client opens
            _write_atomically(eml, mail.as_bytes(policy=mail.policy.clone(linesep="\r\n")))
        except OSError as error:
            problem = f"{error.strerror or error}" + (
                f" ({error.filename})" if error.filename and Path(error.filename) != folder else "")
        if problem is not None:
            raise DeliveryError(f"Delivery of {message.key} to folder {folder} failed: {problem}. Check that the "
                                f"folder can be created and written by this user, and the free disk space.")
        return f"folder {eml}"


def _write_atomically(path: Path, content: bytes) -> None:
    """Writes `path` so it appears whole or not at all: a temporary file in the same folder (so the rename stays
    on one file system), flushed to disk, then renamed over the target."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # os.open rather than tempfile: its files are 0600, and a delivery folder is often read by someone else;
    # this one gets the usual permissions of the user's umask
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            # without this a crash soon after the rename can leave an empty file where the old one was
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
