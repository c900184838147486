"""The mail toolset's ports: what its service needs from the world."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol, runtime_checkable

from jarvis_mcp.ports import ProviderFailure


@dataclass(frozen=True)
class MailReceipt:
    provider: str  # outbox | smtp | gmail
    provider_ref: str | None  # the provider's id for the message (Gmail id, SMTP queue reply, outbox file)
    delivered: bool  # True only when a real provider accepted it for delivery
    detail: str  # what happened, in words a person can read


class MailError(ProviderFailure):
    """The provider refused or failed; the message is the provider's own, safe to show.

    retryable: worth trying again (HTTP 429/5xx, SMTP 4xx, connection trouble before sending).
    ambiguous: the provider may have accepted the message anyway (a timeout mid-send): never resent unless a
    lookup finds it was sent; the action's outcome is unknown otherwise.
    auth: the provider refused the credentials; the user must connect it again.
    """

    def __init__(self, message: str, *, retryable: bool = False, ambiguous: bool = False,
                 retry_after: float | None = None, auth: bool = False) -> None:
        super().__init__(message, auth=auth)
        self.retryable = retryable
        self.ambiguous = ambiguous
        self.retry_after = retry_after


@runtime_checkable
class Mailer(Protocol):
    """Sends one user's RFC 5322 messages (email.message.EmailMessage). Built per user by bootstrap.

    idempotency_key is the outbox action id: stable across retries, for providers that can use one.
    """

    provider: str
    #: Sending again with the same idempotency_key can never make a second copy (the outbox keeps one file
    #: per action): an action interrupted mid-send is simply sent again.
    idempotent: bool

    def send(self, message: EmailMessage, *, idempotency_key: str) -> MailReceipt: ...

    def find_sent(self, message_id: str) -> str | None:
        """The provider's reference for the message with this Message-ID header (angle brackets included),
        so an action interrupted mid-send is reconciled instead of resent. None when the provider has no
        such message or cannot be asked at all (SMTP); MailError when asking failed. Only a reference proves
        the message was sent."""
        ...
