"""The Mailer over SMTP (smtplib): STARTTLS, implicit TLS or plain, with optional AUTH.

SMTP's reply codes are the other way round from HTTP's: 4yz is a transient refusal (try again later),
5yz a permanent one. Trouble before the message is handed over (connect, TLS, login) is safe to retry;
a connection lost while the message is being sent is not (the server may have taken it), and SMTP offers
no way to ask afterwards, so that case is reported as ambiguous and never resent automatically.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Literal

from jarvis_mcp.ports import MailError, MailReceipt

Security = Literal["starttls", "ssl", "none"]
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


def _reply(code: int, text: bytes | str) -> str:
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(said.split())}"


class SmtpMailer:
    provider = "smtp"

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
            raise MailError(f"the SMTP server refused the login: {_reply(exc.smtp_code, exc.smtp_error)}") from None
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
            raise MailError(f"the connection to the SMTP server was lost while sending ({exc}); the server may or "
                            "may not have accepted the message", ambiguous=True) from None
        finally:
            _close(smtp)
        detail = f"accepted by the SMTP server {self.host}"
        if refused:
            detail += "; refused for " + "; ".join(f"{addr} ({_reply(code, text)})" for addr, (code, text) in refused.items())
        return MailReceipt(provider=self.provider, provider_ref=str(message["Message-ID"] or "") or None,
                           delivered=True, detail=detail)


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
