"""The Mailer adapters at their boundaries: the outbox's .eml files, a real SMTP server (aiosmtpd on
127.0.0.1: plain, STARTTLS, implicit TLS, AUTH), and the exact HTTP requests the Gmail API receives."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import socket
import ssl
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from googleapiclient.http import HttpMockSequence

from jarvis_mcp import bootstrap
from jarvis_mcp.adapters.mail_gmail import READ_SCOPE, SEND_SCOPE, GmailMailer, raw_message
from jarvis_mcp.adapters.mail_outbox import NOT_DELIVERED, OutboxMailer
from jarvis_mcp.adapters.mail_smtp import SmtpMailer
from jarvis_mcp.config import ConfigError, Settings, load_settings
from jarvis_mcp.errors import JarvisError
from jarvis_mcp.mail.ports import Mailer, MailError

USER = str(uuid.uuid4())
ACTION = str(uuid.uuid4())


def message(*, to: str = "Ana García <ana@example.com>", bcc: str | None = "hidden@example.net",
            reply_to: str | None = None, attach: bool = True) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP.clone(cte_type="7bit"))
    msg["Message-ID"] = f"<{ACTION}@jarvis-mcp>"
    msg["Date"] = "Mon, 03 Jun 2024 10:00:00 GMT"
    msg["From"] = "Me <me@example.org>"
    msg["To"] = to
    msg["Cc"] = "cc@example.com"
    if bcc:
        msg["Bcc"] = bcc
    msg["Subject"] = "Presupuesto año 2024"
    if reply_to:
        msg["In-Reply-To"] = reply_to
        msg["References"] = reply_to
    msg.set_content("Hola Ana,\nadjunto el presupuesto.\n")
    if attach:
        msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="presupuesto.pdf")
    return msg


# -- outbox ---------------------------------------------------------------------------------------


def test_outbox_keeps_a_real_message_and_says_it_was_not_delivered(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path, USER)
    assert isinstance(mailer, Mailer)
    receipt = mailer.send(message(), idempotency_key=ACTION)
    path = tmp_path / "outbox" / USER / f"{ACTION}.eml"
    assert receipt.delivered is False and receipt.detail == NOT_DELIVERED and receipt.provider == "outbox"
    assert receipt.provider_ref == f"outbox/{USER}/{ACTION}.eml"
    assert path.stat().st_mode & 0o777 == 0o600
    raw = path.read_bytes()
    assert b"\r\n" in raw  # wire format
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Message-ID"] == f"<{ACTION}@jarvis-mcp>"
    assert parsed["To"] == "Ana García <ana@example.com>" and parsed["Cc"] == "cc@example.com"
    assert parsed["Bcc"] == "hidden@example.net"  # the user's own copy says who was blind-copied
    assert parsed["Subject"] == "Presupuesto año 2024"
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Hola Ana,\nadjunto el presupuesto.\n"
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_filename() == "presupuesto.pdf" and attachment.get_content() == b"%PDF-1.4 fake"
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_outbox_send_is_idempotent_and_findable(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path, USER)
    assert mailer.find_sent(f"<{ACTION}@jarvis-mcp>") is None
    first = mailer.send(message(), idempotency_key=ACTION)
    before = (tmp_path / first.provider_ref).read_bytes()
    again = mailer.send(message(bcc=None), idempotency_key=ACTION)
    assert again == first and (tmp_path / first.provider_ref).read_bytes() == before
    assert mailer.find_sent(f"<{ACTION}@jarvis-mcp>") == first.provider_ref
    assert mailer.find_sent("<something@else>") is None
    assert mailer.find_sent("<../../etc/passwd@x>") is None


def test_outbox_refuses_keys_and_users_that_are_not_names(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path, USER)
    for key in ("../escape", "a/b", ".hidden", ""):
        with pytest.raises(ValueError):
            mailer.send(message(), idempotency_key=key)
    with pytest.raises(ValueError):
        OutboxMailer(tmp_path, "../other")
    assert not (tmp_path / "outbox").exists() or not any((tmp_path / "outbox").rglob("*.eml"))


# -- SMTP (aiosmtpd on 127.0.0.1) -----------------------------------------------------------------


class Inbox:
    def __init__(self, refuse: dict[str, str] | None = None, data_reply: str | None = None) -> None:
        self.envelopes: list[Any] = []
        self.refuse = refuse or {}
        self.data_reply = data_reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201, N802
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        if self.data_reply:
            return self.data_reply
        self.envelopes.append(envelope)
        return "250 2.0.0 queued as 7F3A"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting it): a self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


def authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN201
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"me", b"s3cret")
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 235 / 535 itself


@pytest.fixture
def smtp_server() -> Iterator[Any]:
    started: list[Controller] = []

    def start(handler: Inbox, **kwargs: Any) -> int:
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        started.append(controller)
        return port

    yield start
    for controller in started:
        controller.stop()


def check_received(inbox: Inbox) -> None:
    [envelope] = inbox.envelopes
    assert envelope.mail_from == "me@example.org"
    assert sorted(envelope.rcpt_tos) == ["ana@example.com", "cc@example.com", "hidden@example.net"]
    received = message_from_bytes(envelope.content, policy=policy.default)
    assert received["Bcc"] is None  # blind copies stay blind
    assert received["Message-ID"] == f"<{ACTION}@jarvis-mcp>" and received["Subject"] == "Presupuesto año 2024"
    assert [a.get_filename() for a in received.iter_attachments()] == ["presupuesto.pdf"]


def test_smtp_plain(smtp_server) -> None:  # noqa: ANN001
    inbox = Inbox()
    port = smtp_server(inbox)
    receipt = SmtpMailer("127.0.0.1", port=port, security="none", timeout=5).send(message(), idempotency_key=ACTION)
    assert receipt.delivered is True and receipt.provider == "smtp"
    assert receipt.provider_ref == f"<{ACTION}@jarvis-mcp>"
    check_received(inbox)


def test_smtp_starttls_with_auth(smtp_server, tls) -> None:  # noqa: ANN001
    server_ctx, client_ctx = tls
    inbox = Inbox()
    port = smtp_server(inbox, tls_context=server_ctx, require_starttls=True, authenticator=authenticator,
                       auth_required=True)
    mailer = SmtpMailer("127.0.0.1", port=port, security="starttls", user="me", password="s3cret", timeout=5,
                        ssl_context=client_ctx)
    assert mailer.send(message(), idempotency_key=ACTION).delivered is True
    check_received(inbox)
    wrong = SmtpMailer("127.0.0.1", port=port, security="starttls", user="me", password="nope", timeout=5,
                       ssl_context=client_ctx)
    with pytest.raises(MailError) as refused:
        wrong.send(message(), idempotency_key=ACTION)
    assert "refused the login" in str(refused.value) and "535" in str(refused.value)
    assert not refused.value.retryable
    assert len(inbox.envelopes) == 1


def test_smtp_implicit_tls(smtp_server, tls) -> None:  # noqa: ANN001
    server_ctx, client_ctx = tls
    inbox = Inbox()
    port = smtp_server(inbox, ssl_context=server_ctx)
    mailer = SmtpMailer("127.0.0.1", port=port, security="ssl", timeout=5, ssl_context=client_ctx)
    assert mailer.send(message(), idempotency_key=ACTION).delivered is True
    check_received(inbox)


def test_smtp_untrusted_certificate_is_refused(smtp_server, tls) -> None:  # noqa: ANN001
    server_ctx, _ = tls
    port = smtp_server(Inbox(), tls_context=server_ctx)
    with pytest.raises(MailError) as raised:
        SmtpMailer("127.0.0.1", port=port, security="starttls", timeout=5).send(message(), idempotency_key=ACTION)
    assert "certificate is not trusted" in str(raised.value) and not raised.value.retryable


def test_smtp_without_starttls_when_it_is_required(smtp_server) -> None:  # noqa: ANN001
    port = smtp_server(Inbox())
    with pytest.raises(MailError) as raised:
        SmtpMailer("127.0.0.1", port=port, security="starttls", timeout=5).send(message(), idempotency_key=ACTION)
    assert "does not offer STARTTLS" in str(raised.value) and not raised.value.retryable


def test_smtp_refusals_permanent_and_transient(smtp_server) -> None:  # noqa: ANN001
    inbox = Inbox(refuse={"ana@example.com": "550 5.1.1 no such user", "cc@example.com": "550 5.1.1 no such user",
                          "hidden@example.net": "550 5.1.1 no such user"})
    port = smtp_server(inbox)
    mailer = SmtpMailer("127.0.0.1", port=port, security="none", timeout=5)
    with pytest.raises(MailError) as raised:
        mailer.send(message(), idempotency_key=ACTION)
    assert "refused every recipient" in str(raised.value) and "550 5.1.1 no such user" in str(raised.value)
    assert not raised.value.retryable

    some = Inbox(refuse={"cc@example.com": "550 5.1.1 no such user"})
    port = smtp_server(some)
    receipt = SmtpMailer("127.0.0.1", port=port, security="none", timeout=5).send(message(), idempotency_key=ACTION)
    assert receipt.delivered is True and "refused for cc@example.com (550 5.1.1 no such user)" in receipt.detail

    busy = Inbox(data_reply="451 4.3.0 try again later")
    port = smtp_server(busy)
    with pytest.raises(MailError) as transient:
        SmtpMailer("127.0.0.1", port=port, security="none", timeout=5).send(message(), idempotency_key=ACTION)
    assert transient.value.retryable and "451" in str(transient.value)


def test_smtp_unreachable_is_retryable() -> None:
    with pytest.raises(MailError) as raised:
        SmtpMailer("127.0.0.1", port=free_port(), security="none", timeout=2).send(message(), idempotency_key=ACTION)
    assert raised.value.retryable and not raised.value.ambiguous and "cannot reach" in str(raised.value)


# -- Gmail (the exact HTTP requests) --------------------------------------------------------------

TOKEN_URI = "https://oauth2.googleapis.com/token"
INFO = {"refresh_token": "refresh-1", "client_id": "client-1.apps.googleusercontent.com", "client_secret": "cs-1",
        "token_uri": TOKEN_URI, "scopes": [SEND_SCOPE, READ_SCOPE]}
SEND_URL = "https://gmail.googleapis.com/gmail/v1/users/me/messages/send"
LIST_URL = "https://gmail.googleapis.com/gmail/v1/users/me/messages"


def token() -> tuple[dict[str, str], str]:
    return {"status": "200"}, json.dumps({"access_token": "access-1", "expires_in": 3600, "token_type": "Bearer"})


def reply(body: dict[str, Any], status: int = 200, **headers: str) -> tuple[dict[str, str], str]:
    return {"status": str(status), **headers}, json.dumps(body)


def error(status: int, text: str, **headers: str) -> tuple[dict[str, str], str]:
    return reply({"error": {"code": status, "message": text, "status": "X"}}, status, **headers)


def gmail(*responses: tuple[dict[str, str], str]) -> tuple[GmailMailer, HttpMockSequence]:
    http = HttpMockSequence([token(), *responses])
    return GmailMailer.from_authorized_user_info(INFO, http=http), http


def requests(http: HttpMockSequence) -> list[tuple[str, str, dict[str, list[str]], Any]]:
    out = []
    for uri, method, body, _headers in http.request_sequence:
        parts = urlsplit(uri)
        out.append((method, f"{parts.scheme}://{parts.netloc}{parts.path}", parse_qs(parts.query), body))
    return out


def test_gmail_send_posts_the_raw_message() -> None:
    mailer, http = gmail(reply({"id": "18f0a1", "threadId": "18f0a1", "labelIds": ["SENT"]}))
    msg = message()
    receipt = mailer.send(msg, idempotency_key=ACTION)
    assert receipt.delivered is True and receipt.provider == "gmail" and receipt.provider_ref == "18f0a1"
    [(m0, u0, _, _), (method, url, params, body)] = requests(http)
    assert (m0, u0) == ("POST", TOKEN_URI)
    assert (method, url, params) == ("POST", SEND_URL, {"alt": ["json"]})
    sent = json.loads(body)
    assert sent == {"raw": raw_message(msg)}  # exactly the message, nothing else (no threadId)
    decoded = base64.urlsafe_b64decode(sent["raw"])
    assert decoded == msg.as_bytes(policy=policy.SMTP)
    parsed = message_from_bytes(decoded, policy=policy.default)
    assert parsed["Bcc"] == "hidden@example.net"  # Gmail reads blind copies from Bcc and strips it
    assert "Authorization" in http.request_sequence[1][3] or "authorization" in http.request_sequence[1][3]


def test_gmail_reply_carries_the_thread() -> None:
    original = "<CAF123@mail.gmail.com>"
    mailer, http = gmail(reply({"messages": [{"id": "m-orig", "threadId": "t-77"}], "resultSizeEstimate": 1}),
                         reply({"id": "m-new", "threadId": "t-77"}))
    msg = message(reply_to=original, attach=False)
    receipt = mailer.send(msg, idempotency_key=ACTION)
    assert receipt.provider_ref == "m-new" and "t-77" in receipt.detail
    _, (lm, lurl, lparams, _), (sm, surl, _, body) = requests(http)
    assert (lm, lurl) == ("GET", LIST_URL)
    assert lparams == {"q": ["rfc822msgid:CAF123@mail.gmail.com"], "includeSpamTrash": ["true"], "maxResults": ["1"],
                       "alt": ["json"]}
    assert (sm, surl) == ("POST", SEND_URL)
    sent = json.loads(body)
    assert sent == {"raw": raw_message(msg), "threadId": "t-77"}
    parsed = message_from_bytes(base64.urlsafe_b64decode(sent["raw"]), policy=policy.default)
    assert parsed["In-Reply-To"] == original and parsed["References"] == original


def test_gmail_reply_without_read_access_still_sends() -> None:
    mailer, http = gmail(error(403, "Request had insufficient authentication scopes."), reply({"id": "m-new"}))
    msg = message(reply_to="<CAF123@mail.gmail.com>", attach=False)
    assert mailer.send(msg, idempotency_key=ACTION).provider_ref == "m-new"
    assert json.loads(requests(http)[2][3]) == {"raw": raw_message(msg)}


def test_gmail_find_sent() -> None:
    mailer, http = gmail(reply({"messages": [{"id": "m-9", "threadId": "t-9"}]}), reply({"resultSizeEstimate": 0}))
    assert mailer.find_sent(f"<{ACTION}@jarvis-mcp>") == "m-9"
    assert mailer.find_sent("<other@jarvis-mcp>") is None
    queries = [params["q"] for _, _, params, _ in requests(http)[1:]]
    assert queries == [[f"rfc822msgid:{ACTION}@jarvis-mcp"], ["rfc822msgid:other@jarvis-mcp"]]


@pytest.mark.parametrize(("response", "retryable", "ambiguous", "says"), [
    (error(429, "Rate limit exceeded", **{"retry-after": "7"}), True, False, "Gmail answered 429: Rate limit exceeded"),
    (error(503, "Backend Error"), True, True, "Gmail answered 503: Backend Error"),
    (error(400, "Invalid To header"), False, False, "Gmail answered 400: Invalid To header"),
    (error(401, "Invalid Credentials"), False, False, "jarvis-mcp connect google"),  # after google-auth's refresh
    (error(403, "Request had insufficient authentication scopes."), False, False, "has not granted"),
])
def test_gmail_errors(response: tuple[dict[str, str], str], retryable: bool, ambiguous: bool, says: str) -> None:
    # On a 401 google-auth refreshes the token and replays the request, twice, before giving up.
    replies = (response, token(), response, token(), response) if response[0]["status"] == "401" else (response,)
    mailer, _ = gmail(*replies)
    with pytest.raises(MailError) as raised:
        mailer.send(message(attach=False), idempotency_key=ACTION)
    assert raised.value.retryable is retryable and raised.value.ambiguous is ambiguous
    assert says in str(raised.value)
    if "retry-after" in response[0]:
        assert raised.value.retry_after == 7.0


def test_gmail_refused_refresh_token() -> None:
    http = HttpMockSequence([({"status": "400"}, json.dumps({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}))])
    mailer = GmailMailer.from_authorized_user_info(INFO, http=http)
    with pytest.raises(MailError) as raised:
        mailer.send(message(attach=False), idempotency_key=ACTION)
    assert "refused the stored refresh token" in str(raised.value) and not raised.value.retryable


def test_gmail_needs_a_sending_scope() -> None:
    with pytest.raises(MailError) as raised:
        GmailMailer.from_authorized_user_info({**INFO, "scopes": ["https://www.googleapis.com/auth/contacts.readonly"]})
    assert "has not allowed sending mail" in str(raised.value) and "connect google" in str(raised.value)


# -- bootstrap and settings -----------------------------------------------------------------------


def test_make_mailer_per_setting(tmp_path: Path) -> None:
    outbox = bootstrap.make_mailer(Settings(home=tmp_path), USER, lambda: None)
    assert isinstance(outbox, OutboxMailer) and outbox.folder == tmp_path / "outbox" / USER
    smtp = bootstrap.make_mailer(Settings(home=tmp_path, mailer="smtp", smtp_host="mail.example.org", smtp_security="ssl",
                                          smtp_from="me@example.org", smtp_user="me", smtp_password="pw"), USER, lambda: None)
    assert isinstance(smtp, SmtpMailer) and (smtp.port, smtp.user, smtp.password) == (465, "me", "pw")
    gmail_settings = Settings(home=tmp_path, mailer="gmail")
    with pytest.raises(JarvisError) as missing:
        bootstrap.make_mailer(gmail_settings, USER, lambda: None)
    assert "jarvis-mcp connect google" in str(missing.value) and "Gmail API" in str(missing.value)
    assert isinstance(bootstrap.make_mailer(gmail_settings, USER, lambda: dict(INFO)), GmailMailer)


def test_mail_settings_are_validated_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    for env, says in (
        ({"JARVIS_MAILER": "smtp"}, "JARVIS_MAILER=smtp needs JARVIS_SMTP_HOST and JARVIS_SMTP_FROM"),
        ({"JARVIS_MAILER": "pigeon"}, "JARVIS_MAILER"),
        ({"JARVIS_SMTP_FROM": "not an address"}, "JARVIS_SMTP_FROM"),
        ({"JARVIS_MAIL_ALLOWLIST": '["example.com"]'}, "neither an address"),
        ({"JARVIS_SMTP_USER": "me"}, "JARVIS_SMTP_USER and JARVIS_SMTP_PASSWORD go together"),
        ({"JARVIS_SMTP_SECURITY": "tls"}, "JARVIS_SMTP_SECURITY"),
    ):
        with monkeypatch.context() as m:
            for k, v in env.items():
                m.setenv(k, v)
            with pytest.raises(ConfigError) as raised:
                load_settings()
            assert says in str(raised.value), (env, str(raised.value))
    monkeypatch.setenv("JARVIS_MAIL_ALLOWLIST", '["Ana@Example.com", "@Corp.example"]')
    assert load_settings().mail_allowlist == ["ana@example.com", "@corp.example"]
