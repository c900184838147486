"""The inbox for one user: search, read, the context of a reply, drafts.

Email ids are opaque and bound to the user: the adapter's key (a Gmail id, a Maildir file name, an mbox
position) with a tag keyed by the user's id. Another user's id fails the tag check and answers exactly
like an id that never existed, whichever folder both users' servers point at.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import getaddresses
from typing import TYPE_CHECKING, TypeVar

from jarvis_mcp.errors import InvalidInput, JarvisError, NotFound
from jarvis_mcp.inbox.models import AttachmentInfo, DraftReceipt, EmailMessage, EmailSearch, EmailSummary
from jarvis_mcp.inbox.parse import readable
from jarvis_mcp.inbox.ports import Inbox, InboxError, Letter, SearchQuery
from jarvis_mcp.mail.message import (
    CONTROLS,
    Recipient,
    build_message,
    parse_address,
    parse_message_id,
    reply_subject,
)

if TYPE_CHECKING:
    from jarvis_mcp.contacts.service import ContactService

T = TypeVar("T")
MAX_LIMIT = 50
MAX_QUERY_CHARS = 300
MAX_BODY_CHARS = 200_000
MAX_REFERENCES = 20  # RFC 5322 3.6.4: a long thread keeps its first and latest Message-IDs
NO_INBOX = ("no inbox is configured on this server: set JARVIS_INBOX to gmail, maildir:PATH or mbox:PATH "
            "(see the README's 'Reading your mail')")
_ID = re.compile(r"^e_([A-Za-z0-9_-]{1,400})\.([0-9a-f]{16})$")

#: (user id, loader of the user's Google credentials) -> that user's Inbox. Built by bootstrap.
InboxFactory = Callable[[str, Callable[[], "dict[str, object] | None"]], Inbox]


@dataclass(frozen=True)
class ReplyContext:
    """What a reply to one received email needs to join its thread."""

    message_id: str  # the original's Message-ID: the reply's In-Reply-To
    references: str  # the original's References + its Message-ID: the reply's References
    subject: str  # "Re: " + the original subject, unless it already says so
    to: str  # Reply-To, else From: where the reply goes by default
    thread: str | None  # the provider's thread (Gmail)


class InboxService:
    def __init__(self, user_id: str, inbox: Callable[[], Inbox] | None, *,
                 contacts: Callable[[], ContactService] | None = None, from_address: str | None = None) -> None:
        self.user_id = user_id
        self._build = inbox
        self._inbox: Inbox | None = None
        self._contacts = contacts
        self.from_address = from_address
        self._key = hashlib.sha256(f"jarvis-inbox-id:{user_id}".encode()).digest()

    # -- ids ------------------------------------------------------------------------------------

    def _tag(self, key: str) -> str:
        return hmac.new(self._key, key.encode(), hashlib.sha256).hexdigest()[:16]

    def public_id(self, key: str) -> str:
        return f"e_{base64.urlsafe_b64encode(key.encode()).decode().rstrip('=')}.{self._tag(key)}"

    def _key_of(self, email_id: str) -> str:
        found = _ID.match((email_id or "").strip())
        if found:
            try:
                key = base64.urlsafe_b64decode(found.group(1) + "=" * (-len(found.group(1)) % 4)).decode()
            except (binascii.Error, UnicodeDecodeError):
                key = None
            if key is not None and hmac.compare_digest(self._tag(key), found.group(2)):
                return key
        raise NotFound("email", email_id)

    # -- reading --------------------------------------------------------------------------------

    def inbox(self) -> Inbox:
        if self._build is None:
            raise JarvisError(NO_INBOX)
        if self._inbox is None:
            self._inbox = _provider(self._build)
        return self._inbox

    def search(self, query: str | None = None, sender: str | None = None, since: str | None = None,
               unread: bool | None = None, limit: int = 20) -> EmailSearch:
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput("limit", f"must be between 1 and {MAX_LIMIT} (got {limit})")
        for field, value in (("query", query), ("sender", sender)):
            if value is not None and len(value) > MAX_QUERY_CHARS:
                raise InvalidInput(field, f"must be at most {MAX_QUERY_CHARS} characters")
        wanted = SearchQuery(text=(query or "").strip() or None, sender=(sender or "").strip() or None,
                             since=parse_since(since), unread=unread, limit=limit)
        inbox = self.inbox()
        letters = _provider(lambda: inbox.search(wanted))
        return EmailSearch(source=inbox.provider, emails=[self._summary(item) for item in letters])

    def _summary(self, item: Letter) -> EmailSummary:
        return EmailSummary(id=self.public_id(item.key), date=_iso(item.date), sender=item.sender,
                            subject=item.subject, snippet=item.text, unread=item.unread,
                            attachments=len(item.attachments))

    def letter(self, email_id: str) -> Letter:
        inbox = self.inbox()  # first: without an inbox, say so rather than "not found"
        key = self._key_of(email_id)
        found = _provider(lambda: inbox.fetch(key))
        if found is None:
            raise NotFound("email", email_id)
        return found

    def read(self, email_id: str, max_chars: int = 20_000) -> EmailMessage:
        """One email, its body as text (HTML converted), attachments listed. Sentiment reads through here."""
        if not 1 <= max_chars <= MAX_BODY_CHARS:
            raise InvalidInput("max_chars", f"must be between 1 and {MAX_BODY_CHARS} (got {max_chars})")
        item = self.letter(email_id)
        body = readable(item.text, item.html)
        return EmailMessage(
            id=self.public_id(item.key), source=self.inbox().provider, message_id=item.message_id,
            date=_iso(item.date), sender=item.sender, to=item.to, cc=item.cc, reply_to=item.reply_to,
            subject=item.subject, in_reply_to=item.in_reply_to, references=(item.references or "").split(),
            unread=item.unread, body=body[:max_chars], body_was_html=not item.text.strip() and bool(item.html),
            truncated=len(body) > max_chars,
            attachments=[AttachmentInfo(name=a.name, type=a.mime_type, size=a.size) for a in item.attachments],
        )

    def reply_context(self, email_id: str, field: str = "reply_to") -> ReplyContext:
        item = self.letter(email_id)
        try:
            message_id = parse_message_id(item.message_id or "")
        except InvalidInput:
            raise InvalidInput(field, "that email has no usable Message-ID header, so a reply cannot join its "
                                      "thread; send a new email instead") from None
        chain = [r for r in (item.references or "").split() if r != message_id] + [message_id]
        if len(chain) > MAX_REFERENCES:
            chain = chain[:1] + chain[-(MAX_REFERENCES - 1):]
        who = [(n, a) for n, a in getaddresses([item.reply_to or item.sender]) if "@" in a]
        to = ""
        if who:
            name, address = who[0]
            # The sender's name too, unless it could not pass as a display name (send_email checks the rest).
            to = f"{name} <{address}>" if name and len(name) <= 100 and not CONTROLS.search(name) \
                and not set(name) & set('<>"') else address
        return ReplyContext(message_id=message_id, references=" ".join(chain), subject=reply_subject(item.subject),
                            to=to, thread=item.thread)

    # -- drafts ---------------------------------------------------------------------------------

    def draft(self, to: Sequence[str] | None, subject: str | None, body: str,
              reply_to: str | None = None) -> DraftReceipt:
        if body is None or len(body) > MAX_BODY_CHARS or "\x00" in body:
            raise InvalidInput("body", f"is required, at most {MAX_BODY_CHARS} characters, without NUL")
        context = self.reply_context(reply_to) if reply_to else None
        given = [t for t in (to or []) if isinstance(t, str) and t.strip()]
        if not given and context and context.to:
            given = [context.to]
        if not given:
            raise InvalidInput("to", "give at least one recipient (or reply_to, to answer its sender)")
        recipients = [self._recipient(text.strip()) for text in given[:50]]
        subject = _subject(subject, context)
        arguments = {"subject": subject, "body": body.replace("\r\n", "\n"), "html": False,
                     "reply_to": context.message_id if context else None,
                     "references": context.references if context else None}
        inbox = self.inbox()
        message = build_message(str(uuid.uuid4()), arguments, recipients, from_address=self.from_address,
                                provider=inbox.provider)
        saved = _provider(lambda: inbox.save_draft(message, thread=context.thread if context else None))
        return DraftReceipt(draft_id=saved.key, source=inbox.provider, where=saved.where,
                            to=[r.shown() for r in recipients], subject=subject,
                            in_reply_to=context.message_id if context else None)

    def _recipient(self, text: str) -> Recipient:
        if "@" in text or self._contacts is None:
            name, address = parse_address("to", text)
            return Recipient("to", address, name, None)
        found = self._contacts().resolve(text, "email", field="to")
        _, address = parse_address("to", found.handle)
        return Recipient("to", address, found.contact.name if found.contact else None,
                         found.contact.id if found.contact else None)


def _subject(subject: str | None, context: ReplyContext | None) -> str:
    if subject is not None and CONTROLS.search(subject.replace("\t", " ")):
        raise InvalidInput("subject", "must be one line without control characters")
    text = " ".join((subject or "").split())
    if context is not None:
        text = reply_subject(text or context.subject)
    if not text:
        raise InvalidInput("subject", "must not be empty (or give reply_to to answer an email)")
    if len(text) > 300:
        raise InvalidInput("subject", "must be at most 300 characters")
    return text


def parse_since(since: str | None) -> datetime | None:
    """An ISO 8601 date or date-time; a date or a time without a zone is read as UTC."""
    if since is None or not since.strip():
        return None
    try:
        when = datetime.fromisoformat(since.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("since", f"{since!r} is not an ISO 8601 date, e.g. 2024-05-01 or "
                                    "2024-05-01T09:00:00+02:00") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def _provider(call: Callable[[], T]) -> T:
    """The mail store's own failure, said as an error the model can show."""
    try:
        return call()
    except InboxError as exc:
        raise JarvisError(str(exc)) from None
