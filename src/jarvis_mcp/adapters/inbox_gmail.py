"""The inbox through the Gmail API, as the user (google-api-python-client, the user's stored Google
credentials, as adapters/mail_gmail.py).

search: users.messages.list with a `q` built from the arguments (words as given, from:, after: in epoch
seconds, is:unread / is:read), then users.messages.get format=metadata per hit (From, Subject, Date and
Gmail's snippet). fetch: users.messages.get format=full, whose payload tree holds the bodies (base64url)
and the attachments' names and sizes (their bytes are never fetched). save_draft: users.drafts.create
with the RFC 5322 message in `raw` and, for a reply, the thread's id. Reading needs gmail.readonly,
drafts gmail.compose: both are asked by `jarvis-mcp connect google`.
"""

from __future__ import annotations

import base64
import json
from email import policy
from email.message import EmailMessage
from email.parser import HeaderParser
from typing import Any

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from jarvis_mcp.inbox.parse import date_of
from jarvis_mcp.inbox.ports import Attachment, DraftSaved, InboxError, Letter, SearchQuery

RECONNECT = ("run `jarvis-mcp connect google --client-secrets FILE` again on the machine that runs the server "
             "(with the Gmail API enabled for that OAuth client)")
METADATA = ["From", "Subject", "Date"]
_HEADERS = HeaderParser(policy=policy.default)


def gmail_query(query: SearchQuery) -> str:
    """Gmail's search syntax for the arguments. The sender is quoted so its words stay one term."""
    parts = []
    if query.text:
        parts.append(query.text.strip())
    if query.sender:
        parts.append('from:"' + query.sender.replace('"', "") + '"')
    if query.since is not None:
        parts.append(f"after:{int(query.since.timestamp())}")
    if query.unread is not None:
        parts.append("is:unread" if query.unread else "is:read")
    return " ".join(parts)


def _decode(data: str | None) -> str:
    if not data:
        return ""
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    return raw.decode("utf-8", "replace")  # Gmail hands text parts over as UTF-8


def _headers(payload: dict[str, Any]) -> EmailMessage:
    """The message's headers as an EmailMessage, so dates and encoded words read as in a local folder."""
    lines = "".join(f"{h.get('name')}: {h.get('value')}\n" for h in payload.get("headers") or [])
    return _HEADERS.parsestr(lines + "\n")  # type: ignore[return-value]


def _walk(part: dict[str, Any], found: dict[str, Any]) -> None:
    name, kind, body = part.get("filename") or "", part.get("mimeType") or "", part.get("body") or {}
    if name or body.get("attachmentId"):
        found["files"].append(Attachment(name or "(unnamed)", kind or "application/octet-stream", int(body.get("size") or 0)))
    elif kind == "text/plain" and not found["text"]:
        found["text"] = _decode(body.get("data"))
    elif kind == "text/html" and not found["html"]:
        found["html"] = _decode(body.get("data"))
    for child in part.get("parts") or []:
        _walk(child, found)


def _letter(message: dict[str, Any], *, full: bool) -> Letter:
    payload = message.get("payload") or {}
    head = _headers(payload)
    found: dict[str, Any] = {"text": "", "html": "", "files": []}
    if full:
        _walk(payload, found)

    def get(name: str) -> str:
        return " ".join(str(head.get(name, "")).split())

    return Letter(
        key=str(message["id"]), date=date_of(head), sender=get("From"), subject=get("Subject"),
        unread="UNREAD" in (message.get("labelIds") or []), message_id=get("Message-ID") or None,
        thread=message.get("threadId"), to=get("To"), cc=get("Cc"), in_reply_to=get("In-Reply-To") or None,
        references=get("References") or None, reply_to=get("Reply-To") or None,
        text=found["text"] if full else " ".join(str(message.get("snippet") or "").split()),
        html=found["html"], attachments=tuple(found["files"]),
    )


class GmailInbox:
    provider = "gmail"

    def __init__(self, credentials: Credentials, *, http: Any = None, timeout: float = 30.0) -> None:
        authed = AuthorizedHttp(credentials, http=http or httplib2.Http(timeout=timeout))
        self.service = build("gmail", "v1", http=authed, static_discovery=True, cache_discovery=False)

    @classmethod
    def from_authorized_user_info(cls, info: dict[str, object], **kwargs: Any) -> GmailInbox:
        return cls(Credentials.from_authorized_user_info(info), **kwargs)

    def search(self, query: SearchQuery) -> list[Letter]:
        messages = self.service.users().messages()
        listed = _call(messages.list(userId="me", q=gmail_query(query), maxResults=query.limit))
        out = []
        for hit in (listed.get("messages") or [])[: query.limit]:
            got = _call(messages.get(userId="me", id=hit["id"], format="metadata", metadataHeaders=METADATA),
                        missing_ok=True)
            if got is not None:  # deleted between the list and the get
                out.append(_letter(got, full=False))
        return out

    def fetch(self, key: str) -> Letter | None:
        got = _call(self.service.users().messages().get(userId="me", id=key, format="full"), missing_ok=True)
        return _letter(got, full=True) if got is not None else None

    def save_draft(self, message: EmailMessage, *, thread: str | None) -> DraftSaved:
        body: dict[str, Any] = {"raw": base64.urlsafe_b64encode(message.as_bytes(policy=policy.SMTP)).decode("ascii")}
        if thread:
            body["threadId"] = thread
        made = _call(self.service.users().drafts().create(userId="me", body={"message": body}))
        return DraftSaved(key=str(made.get("id")), where="the Drafts folder of the connected Gmail account")


def _reason(exc: HttpError) -> str:
    try:
        return str(json.loads(exc.content)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return exc._get_reason() or "no reason given"


def _call(request: Any, *, missing_ok: bool = False) -> Any:
    try:
        return request.execute(num_retries=0)  # a failed read is simply asked again by the model
    except HttpError as exc:
        status, reason = exc.resp.status, _reason(exc)
        if status in (400, 404) and missing_ok:  # an id Gmail does not know (or that is not an id at all)
            return None
        if status == 401:
            raise InboxError(f"Gmail refused the stored credentials ({reason}); {RECONNECT}", auth=True) from None
        if status == 403 and "insufficient" in reason.lower():
            raise InboxError(f"the connected Google account has not granted this Gmail access ({reason}); "
                             f"{RECONNECT}", auth=True) from None
        raise InboxError(f"Gmail answered {status}: {reason}") from None
    except RefreshError as exc:
        why = exc.args[0] if exc.args else "refresh failed"
        raise InboxError(f"Google refused the stored refresh token ({why}); {RECONNECT}", auth=True) from None
    except (httplib2.HttpLib2Error, TransportError, OSError) as exc:
        raise InboxError(f"Gmail could not be reached ({type(exc).__name__})") from None
