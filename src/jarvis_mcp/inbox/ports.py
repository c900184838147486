"""The inbox toolset's ports: what its service needs from a mail store (Gmail, a Maildir, an mbox file).

Adapters speak in their own keys (a Gmail message id, a Maildir key, an mbox index); the service turns
them into the opaque per-user ids the model sees (inbox/service.py), so no adapter deals with users.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol, runtime_checkable

from jarvis_mcp.ports import ProviderFailure


class InboxError(ProviderFailure):
    """The mail store failed or refused; the message is safe to show."""


@dataclass(frozen=True)
class SearchQuery:
    text: str | None = None  # words that must all appear (headers or body), accent- and case-folded
    sender: str | None = None  # a part of the From header (address or name)
    since: datetime | None = None  # aware
    unread: bool | None = None  # True: only unread; False: only read; None: both
    limit: int = 20


@dataclass(frozen=True)
class Attachment:
    name: str
    mime_type: str
    size: int  # bytes


@dataclass(frozen=True)
class Letter:
    """One received email, normalised. In a search hit `text` is a short snippet and `html` empty."""

    key: str
    date: datetime | None
    sender: str
    subject: str
    unread: bool
    message_id: str | None = None
    thread: str | None = None  # the provider's thread id (Gmail), None elsewhere
    to: str = ""
    cc: str = ""
    in_reply_to: str | None = None
    references: str | None = None
    reply_to: str | None = None  # the Reply-To header
    text: str = ""
    html: str = ""
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class DraftSaved:
    key: str  # the provider's reference for the draft
    where: str  # where the person finds it, in words


@runtime_checkable
class Inbox(Protocol):
    """One user's received mail. Built per user by bootstrap (JARVIS_INBOX)."""

    provider: str  # gmail | maildir | mbox

    def search(self, query: SearchQuery) -> list[Letter]:
        """Newest first, at most query.limit; each with a snippet as its text."""
        ...

    def fetch(self, key: str) -> Letter | None:
        """The whole message (text and HTML bodies, attachments listed); None when there is no such key."""
        ...

    def save_draft(self, message: EmailMessage, *, thread: str | None) -> DraftSaved:
        """Keep `message` where the person's mail app shows drafts. InboxError when this store has none."""
        ...
