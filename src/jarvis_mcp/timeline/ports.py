"""The timeline's port: links between one of the user's contacts (or a raw address that is no contact) and
something that happened (a memory, a logged conversation, an email, an event, a call)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from jarvis_mcp.memory.ports import MemoryRecord

Kind = Literal["memory", "conversation", "email", "event", "call"]
KINDS: tuple[str, ...] = ("memory", "conversation", "email", "event", "call")


@dataclass(frozen=True)
class InteractionRecord:
    party: str  # a contact id, or the raw address (email, phone) when it is no contact
    kind: str  # Kind
    ref: str  # the id of the memory, conversation, outbox email, event or call
    at: float  # when it happened (epoch seconds)
    summary: str  # a short snippet, stored text: untrusted when shown to the model


class InteractionStore(Protocol):
    """Every method takes the caller's user id and touches only that user's rows."""

    def interaction_add(self, user_id: str, records: Sequence[InteractionRecord]) -> None:
        """Idempotent on (party, kind, ref): recording the same link twice keeps one row."""
        ...

    def interaction_list(self, user_id: str, parties: Sequence[str], kinds: Sequence[str],
                         since: float | None, until: float | None, limit: int) -> list[InteractionRecord]:
        """Newest first."""
        ...

    def interaction_last(self, user_id: str, parties: Sequence[str]) -> dict[str, InteractionRecord]:
        """The newest link of each party that has one."""
        ...


class TimelineSources(InteractionStore, Protocol):
    """A memory's link keeps no copy of its text: it is read live, so a forgotten memory leaves no trace."""

    def memories_by_id(self, user_id: str, ids: Sequence[str]) -> list[MemoryRecord]: ...
