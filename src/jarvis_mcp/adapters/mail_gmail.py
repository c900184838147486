"""The Mailer through the Gmail API, as the user (google-api-python-client).

users.messages.send with the whole RFC 5322 message base64url-encoded in `raw`; a reply also carries the
replied-to message's `threadId` (found by its Message-ID) next to the In-Reply-To / References headers.
Gmail fills in From with the account's address. A send cut short is reconciled by looking the message up
by its Message-ID (`rfc822msgid:`), which needs the gmail.readonly scope besides gmail.send.
Retries are the caller's: errors come back as MailError saying whether a retry makes sense.
"""

from __future__ import annotations

import base64
import json
import logging
from email import policy
from email.message import EmailMessage
from typing import Any

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from jarvis_mcp.mail.ports import MailError, MailReceipt

log = logging.getLogger(__name__)

SEND_SCOPE = "https://www.googleapis.com/auth/gmail.send"
READ_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
#: What `jarvis-mcp connect google` must ask for, for mail: send, and look up sent mail and threads.
SCOPES = [SEND_SCOPE, READ_SCOPE]
_SENDING_SCOPES = {SEND_SCOPE, "https://mail.google.com/", "https://www.googleapis.com/auth/gmail.compose",
                   "https://www.googleapis.com/auth/gmail.modify"}
RECONNECT = ("run `jarvis-mcp connect google --client-secrets FILE` again on the machine that runs the server "
             "(with the Gmail API enabled for that OAuth client)")


def _reason(exc: HttpError) -> str:
    try:
        return str(json.loads(exc.content)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return exc._get_reason() or "no reason given"


def _wire(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=policy.SMTP)


def raw_message(message: EmailMessage) -> str:
    """The `raw` field of users.messages.send: the RFC 5322 bytes, base64url."""
    return base64.urlsafe_b64encode(_wire(message)).decode("ascii")


class GmailMailer:
    provider = "gmail"
    idempotent = False  # Gmail has no idempotency key: an interrupted send is looked up by its Message-ID

    def __init__(self, credentials: Credentials, *, http: Any = None, timeout: float = 30.0) -> None:
        authed = AuthorizedHttp(credentials, http=http or httplib2.Http(timeout=timeout))
        self.service = build("gmail", "v1", http=authed, static_discovery=True, cache_discovery=False)

    @classmethod
    def from_authorized_user_info(cls, info: dict[str, object], **kwargs: Any) -> GmailMailer:
        granted = info.get("scopes")
        if isinstance(granted, list) and not _SENDING_SCOPES & set(granted):
            raise MailError(f"the connected Google account has not allowed sending mail (Gmail); {RECONNECT}",
                            auth=True)
        return cls(Credentials.from_authorized_user_info(info), **kwargs)

    def send(self, message: EmailMessage, *, idempotency_key: str) -> MailReceipt:
        body: dict[str, Any] = {"raw": raw_message(message)}
        if message["In-Reply-To"]:
            thread = self._thread_of(str(message["In-Reply-To"]))
            if thread:
                body["threadId"] = thread
        sent = self._call(self.service.users().messages().send(userId="me", body=body), sending=True)
        where = f" in thread {sent['threadId']}" if sent.get("threadId") else ""
        return MailReceipt(provider=self.provider, provider_ref=sent.get("id"), delivered=True,
                           detail=f"sent through Gmail (message {sent.get('id')}{where})")

    def find_sent(self, message_id: str) -> str | None:
        found = self._lookup(message_id)
        return found.get("id") if found else None

    def _thread_of(self, message_id: str) -> str | None:
        try:
            found = self._lookup(message_id)
        except MailError as exc:
            if exc.retryable:
                raise
            # Without read access the reply still threads for its recipients through its headers.
            log.info("no Gmail thread for the replied-to message: %s", exc)
            return None
        return found.get("threadId") if found else None

    def _lookup(self, message_id: str) -> dict[str, Any] | None:
        query = f"rfc822msgid:{message_id.strip().strip('<>')}"
        listed = self._call(self.service.users().messages().list(
            userId="me", q=query, includeSpamTrash=True, maxResults=1))
        messages = listed.get("messages") or []
        return messages[0] if messages else None

    @staticmethod
    def _call(request: Any, *, sending: bool = False) -> dict[str, Any]:
        try:
            return request.execute(num_retries=0)
        except HttpError as exc:
            status, reason = exc.resp.status, _reason(exc)
            if status == 401:
                raise MailError(f"Gmail refused the stored credentials ({reason}); {RECONNECT}", auth=True) from None
            if status == 403 and "insufficient" in reason.lower():
                raise MailError(f"the connected Google account has not granted this Gmail access ({reason}); "
                                f"{RECONNECT}", auth=True) from None
            if status == 429 or status >= 500:
                header = exc.resp.get("retry-after")
                raise MailError(f"Gmail answered {status}: {reason}", retryable=True, ambiguous=sending and status != 429,
                                retry_after=float(header) if header and header.isdigit() else None) from None
            raise MailError(f"Gmail answered {status}: {reason}") from None
        except RefreshError as exc:
            why = exc.args[0] if exc.args else "refresh failed"
            raise MailError(f"Google refused the stored refresh token ({why}); {RECONNECT}", auth=True) from None
        except (httplib2.HttpLib2Error, TransportError, OSError) as exc:
            raise MailError(f"Gmail could not be reached ({type(exc).__name__})", retryable=True,
                            ambiguous=sending) from None
