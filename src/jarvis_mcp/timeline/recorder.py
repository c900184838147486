"""Recording who took part in something: every toolset that involves people (memory, mail, calendar,
calls) calls InteractionRecorder.record after its own write. No MCP imports; bound to one user."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from jarvis_mcp.timeline.ports import KINDS, InteractionRecord, InteractionStore

if TYPE_CHECKING:
    from jarvis_mcp.memory.models import Memory

MAX_SUMMARY = 200


def party_key(party: str) -> str:
    """A contact id as given; a raw email address folded to lower case (as contacts store them)."""
    party = party.strip()
    return party.lower() if "@" in party else party


class InteractionRecorder:
    def __init__(self, user_id: str, store: InteractionStore) -> None:
        self.user_id = user_id
        self.store = store

    def record(self, contact_id: str, kind: str, ref: str, at: float | None = None, summary: str = "") -> None:
        """Link one contact id (or a raw address that is no contact) to one memory/conversation/email/event/call."""
        self.record_many([contact_id], kind, ref, at, summary)

    def record_memory(self, parties: Iterable[str], kind: str, memory: Memory) -> None:
        when = (memory.occurred_at or memory.created_at).timestamp()
        self.record_many(parties, kind, memory.id, when)  # no copy of the text: read live (timeline/ports.py)

    def record_many(self, parties: Iterable[str], kind: str, ref: str, at: float | None = None,
                    summary: str = "") -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown interaction kind {kind!r}")  # a programming error, not the model's
        when = time.time() if at is None else at
        text = " ".join(summary.split())[:MAX_SUMMARY]
        keys = dict.fromkeys(k for k in (party_key(p) for p in parties) if k)
        if keys:
            self.store.interaction_add(self.user_id, [InteractionRecord(k, kind, ref, when, text) for k in keys])
