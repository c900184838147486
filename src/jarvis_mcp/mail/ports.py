"""The mail toolset's ports: what its service needs from the world."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class MailReceipt:
    provider: str  # outbox | smtp | gmail
    provider_ref: str | None  # the provider's id for the message (Gmail id, SMTP queue reply, outbox file)
    delivered: bool  # True only when a real provider accepted it for delivery
    detail: str  # what happened, in words a person can read


class MailError(Exception):
    """The provider refused or failed; the message is the provider's own, safe to show.

    retryable: worth trying again (HTTP 429/5xx, SMTP 4xx, connection trouble before sending).
    ambiguous: the provider may have accepted the message anyway (a timeout mid-send): never resent unless a
    lookup finds it was sent; the action's outcome is unknown otherwise.
    """

    def __init__(self, message: str, *, retryable: bool = False, ambiguous: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.ambiguous = ambiguous
        self.retry_after = retry_after



@runtime_checkable
class Mailer(Protocol):
    """Sends one user's RFC 5322 messages (email.message.EmailMessage). Built per user by bootstrap.

    idempotency_key is the outbox action id: stable across retries, for providers that can use one.
    An adapter may also offer `find_sent(message_id) -> provider_ref | None` (the Message-ID header,
    angle brackets included) so an action interrupted mid-send can be reconciled instead of resent.
    """

    provider: str

    def send(self, message: EmailMessage, *, idempotency_key: str) -> MailReceipt: ...
