"""The calls toolset's ports: what its service needs from the world."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from jarvis_mcp.ports import ProviderFailure


@dataclass(frozen=True)
class AgentSpec:
    """How one contact's voice agent sounds and behaves (the contact's own configuration)."""

    contact_id: str
    contact_name: str
    voice: str | None  # the provider's voice id; None: the configured default
    personality: str | None
    language: str | None
    relationship: str | None = None  # the contact's relationship to the user ("my sister", "client")



@dataclass(frozen=True)
class CallRequest:
    call_id: str  # the outbox action id: stable across retries; tags the call at the provider
    to_number: str  # E.164
    agent_id: str | None
    purpose: str
    first_message: str | None
    language: str | None
    dynamic_variables: dict[str, str]



@dataclass(frozen=True)
class PlacedCall:
    placed: bool  # True only when the provider said it is placing the call
    provider: str
    ref: str | None  # the provider's conversation id
    status: str  # not_placed | initiated | in_progress | processing | done | failed
    message: str
    detail: dict[str, Any] = field(default_factory=dict)



@dataclass(frozen=True)
class CallState:
    status: str  # initiated | in_progress | processing | done | failed
    transcript: tuple[dict[str, Any], ...] = ()  # {"role": "agent" | "user", "text": str, "at_seconds": int | None}
    summary: str | None = None
    duration_seconds: int | None = None
    ended_reason: str | None = None


class CallerError(ProviderFailure):
    """The provider refused (its message, safe to show) or stayed unavailable after bounded retries.

    ambiguous: the provider may have placed the call anyway and could not be asked; never place it again unasked.
    auth: the provider refused the configured credentials (the server's API key).
    """

    def __init__(self, message: str, *, ambiguous: bool = False, auth: bool = False) -> None:
        super().__init__(message, auth=auth)
        self.ambiguous = ambiguous


class Caller(Protocol):
    """Places phone calls. Built once per process from settings; every method is about one call or agent."""

    provider: str
    per_contact_agents: bool  # True: each contact gets its own agent (ensure_agent), saved on the contact

    def default_agent(self) -> str | None:
        """The agent for numbers that are not contacts; CallerError naming the setting when one is needed
        and none is configured. No network."""
        ...
    def ensure_agent(self, spec: AgentSpec) -> str:
        """Create the contact's agent and return its id (called only when the contact has none yet)."""
        ...
    def update_agent(self, agent_id: str, spec: AgentSpec) -> None:
        """Bring an existing agent in line with the contact's voice, personality and relationship."""
        ...
    def place(self, request: CallRequest) -> PlacedCall: ...
    def status(self, ref: str) -> CallState:
        """Where a placed call stands, with its transcript so far."""
        ...
    def find(self, call_id: str) -> PlacedCall | None:
        """After a crash mid-placement: the call the provider placed for call_id, a PlacedCall with
        placed False when it surely placed none, or None when it cannot tell."""
        ...



@dataclass(frozen=True)
class CallRecord:
    """The provider's latest word on a placed call, cached (a finished call's transcript never changes)."""

    call_id: str
    conversation_id: str
    status: str
    transcript: tuple[dict[str, Any], ...]
    summary: str | None
    duration_seconds: int | None
    ended_reason: str | None
    updated_at: float


class CallStore(Protocol):
    def call_get(self, user_id: str, call_id: str) -> CallRecord | None: ...
    def call_put(self, user_id: str, record: CallRecord) -> None:
        """Insert or replace; only for the user's own call_contact action (else nothing is written)."""
        ...
    def call_owner(self, call_id: str) -> str | None:
        """The user whose call_contact action this is (None: no such call). The webhook's one cross-user
        read: ElevenLabs names the call by the tag it was placed with, not by the user."""
        ...
    def set_contact_voice(self, user_id: str, contact_id: str, voice: str | None,
                          personality: str | None) -> str | None:
        """Save the contact's voice and personality; the contact's agent id afterwards ("" when it has none
        yet), or None when the user has no such contact (nothing written)."""
        ...
    def set_contact_agent(self, user_id: str, contact_id: str, agent_id: str) -> str | None:
        """Save the agent on the contact unless one is saved already; the contact's agent id afterwards
        (the first one saved wins a race), or None when the user has no such contact."""
        ...
