"""The Mailer over SMTP (smtplib): STARTTLS, implicit TLS or plain, with optional AUTH.

SMTP's reply codes are the other way round from HTTP's: 4yz is a transient refusal (try again later),
5yz a permanent one. Trouble before the message is handed over (connect, TLS, login, a connection lost
during MAIL or RCPT) is safe to retry, and any reply the server gives is certain. From the DATA command on,
a timeout or a lost connection with no final reply is not: the server may have queued the message, and
SMTP offers no way to ask afterwards, so that case is reported as ambiguous and never resent automatically.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from typing import Literal

from jarvis_mcp.mail.ports import MailError, MailReceipt

Security = Literal["starttls", "ssl", "none"]
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


def _reply(code: int, text: bytes | str) -> str:
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(said.split())}"


class SmtpMailer:
    provider = "smtp"
    idempotent = False

    def __init__(self, host: str, *, port: int | None = None, security: Security = "starttls",
                 user: str | None = None, password: str | None = None, timeout: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.port = port or DEFAULT_PORTS[security]
        self.security = security
        self.user = user
        self.password = password
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        """An open, secured, authenticated session; MailError (retryable unless refused for good) otherwise."""
        where = f"{self.host}:{self.port}"
        try:
            if self.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.ssl_context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"cannot reach the SMTP server {where}: {exc}", retryable=True) from None
        try:
            smtp.ehlo()
            if self.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise MailError(f"the SMTP server {where} does not offer STARTTLS; set JARVIS_SMTP_SECURITY "
                                    "to ssl (port 465) or, on a trusted network only, none")
                smtp.starttls(context=self.ssl_context)
                smtp.ehlo()
            if self.user:
                smtp.login(self.user, self.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            _close(smtp)
            raise MailError(f"the SMTP server refused the login: {_reply(exc.smtp_code, exc.smtp_error)}",
                            auth=True) from None
        except smtplib.SMTPNotSupportedError as exc:
            _close(smtp)
            raise MailError(f"the SMTP server {where}: {exc}") from None
        except smtplib.SMTPResponseException as exc:
            _close(smtp)
            raise MailError(f"the SMTP server answered {_reply(exc.smtp_code, exc.smtp_error)}",
                            retryable=400 <= exc.smtp_code < 500) from None
        except ssl.SSLCertVerificationError as exc:
            _close(smtp)
            raise MailError(f"the SMTP server's TLS certificate is not trusted: {exc.verify_message}") from None
        except MailError:
            _close(smtp)
            raise
        except (OSError, smtplib.SMTPException) as exc:
            _close(smtp)
            raise MailError(f"the SMTP session with {where} failed before sending: {exc}", retryable=True) from None
        return smtp

    def send(self, message: EmailMessage, *, idempotency_key: str) -> MailReceipt:
        smtp = self._connect()
        handed_over = _watch_data(smtp)
        try:
            # send_message takes the envelope from From/To/Cc/Bcc and strips Bcc from what it transmits.
            refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            listed = "; ".join(f"{addr}: {_reply(code, text)}" for addr, (code, text) in exc.recipients.items())
            raise MailError(f"the SMTP server refused every recipient ({listed})",
                            retryable=all(400 <= c < 500 for c in codes)) from None
        except smtplib.SMTPResponseException as exc:  # sender refused, or the data refused
            raise MailError(f"the SMTP server answered {_reply(exc.smtp_code, exc.smtp_error)}",
                            retryable=400 <= exc.smtp_code < 500) from None
        except (OSError, smtplib.SMTPException) as exc:
            if not handed_over():
                raise MailError(f"the connection to the SMTP server was lost before the message was sent ({exc})",
                                retryable=True) from None
            raise MailError(f"no answer from the SMTP server after the message was sent ({exc}); the server may or "
                            "may not have accepted it", ambiguous=True) from None
        finally:
            _close(smtp)
        detail = f"accepted by the SMTP server {self.host}"
        if refused:
            detail += "; refused for " + "; ".join(f"{addr} ({_reply(code, text)})" for addr, (code, text) in refused.items())
        return MailReceipt(provider=self.provider, provider_ref=str(message["Message-ID"] or "") or None,
                           delivered=True, detail=detail)

    def find_sent(self, message_id: str) -> str | None:
        return None  # SMTP has no way to ask a server what it accepted earlier


def _watch_data(smtp: smtplib.SMTP) -> Callable[[], bool]:
    """Whether the session got as far as DATA: the line between "certainly not sent" and "maybe sent".
    send_message runs MAIL, RCPT and DATA inside one call, so the step is marked on this session's data()."""
    started = False
    data = smtp.data

    def marked(msg: bytes | str) -> tuple[int, bytes]:
        nonlocal started
        started = True
        return data(msg)

    smtp.data = marked  # type: ignore[method-assign]
    return lambda: started


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
