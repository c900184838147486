"""The whole relational store, as the composition root holds it: every toolset's store port in one.

Only bootstrap, runtime and scope see this composite; each service is handed the narrow port it uses.
"""

from __future__ import annotations

from typing import Protocol

from jarvis_mcp.account.ports import CredentialStore, HistoryStore, UserStore
from jarvis_mcp.actions.ports import ActionStore
from jarvis_mcp.calendar.ports import CalendarStore
from jarvis_mcp.calls.ports import CallStore
from jarvis_mcp.contacts.ports import ContactStore
from jarvis_mcp.documents.ports import DocumentRecords
from jarvis_mcp.identity.ports import AuthStore
from jarvis_mcp.memory.ports import MemoryStore
from jarvis_mcp.timeline.ports import InteractionStore


class Store(UserStore, HistoryStore, MemoryStore, DocumentRecords, ContactStore, CredentialStore, ActionStore,
            CalendarStore, CallStore, AuthStore, InteractionStore, Protocol):
    """Relational data. Every method takes the caller's user id and touches only that user's rows."""

    def close(self) -> None: ...
