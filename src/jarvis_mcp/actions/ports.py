"""The actions toolset's ports: what its service needs from the world."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class NewOutbox:
    kind: str
    idempotency_key: str
    args_hash: str
    arguments: dict[str, Any]
    summary: str
    sensitive: tuple[str, ...]  # reasons; empty when the action runs at once
    status: str
    expires_at: float | None = None



@dataclass(frozen=True)
class OutboxRecord:
    id: str
    kind: str
    idempotency_key: str
    arguments: dict[str, Any]
    summary: str
    sensitive: tuple[str, ...]
    status: str  # models.ActionStatus; unknown: the provider may or may not have acted (never redone unasked)
    provider: str | None
    provider_ref: str | None
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    created_at: float
    updated_at: float
    expires_at: float | None



@dataclass(frozen=True)
class VoiceKeyState:
    hash: str | None
    failures: int
    locked_until: float | None


class ActionStore(Protocol):
    """The outbox and the voice key. Status changes are compare-and-set, so one action runs once."""

    def outbox_claim(self, user_id: str, new: NewOutbox, window_s: float) -> tuple[OutboxRecord, bool]:
        """Insert, or return the user's action with the same idempotency key, or with the same args_hash
        created within window_s (created False) unless that one ended without acting (failed, cancelled,
        expired, or pending past its expiry). One whose outcome is `unknown` is returned: it may have acted.
        Atomic: two identical calls never both insert."""
        ...
    def outbox_get(self, user_id: str, action_id: str) -> OutboxRecord | None: ...
    def outbox_transition(self, user_id: str, action_id: str, from_status: Sequence[str], to_status: str,
                          fields: dict[str, Any] | None = None, *, unexpired: bool = False) -> OutboxRecord | None:
        """Move to to_status only if the status is one of from_status (and, with unexpired, not expired);
        None when the action was not in such a state (someone else moved it, or it is not the user's)."""
        ...
    def outbox_list(self, user_id: str, limit: int) -> list[OutboxRecord]: ...
    def outbox_unfinished(self, older_than: float) -> list[tuple[str, OutboxRecord]]:
        """(user_id, action) for every user's queued or sending action last touched before older_than:
        what a crash left behind. The only cross-user read, used by recovery at start-up."""
        ...
    def voice_key_state(self, user_id: str) -> VoiceKeyState: ...
    def set_voice_key_hash(self, user_id: str, key_hash: str) -> None: ...
    def claim_voice_key_attempt(self, user_id: str, now: float, lock_after: int,
                                lock_seconds: float) -> tuple[VoiceKeyState, int | None]:
        """Count one attempt as a failure BEFORE its phrase is checked, in one atomic step shared by every
        process: refused (number None, nothing counted) when no key is set or the lock runs past `now`;
        the claim that reaches lock_after failures sets the lock until now + lock_seconds. Returns the
        state after and the attempt's number, which only grows (forgive_voice_key_failures takes it)."""
        ...
    def forgive_voice_key_failures(self, user_id: str, attempt: int, lock_after: int) -> VoiceKeyState:
        """The phrase of attempt `attempt` was right: failures counted up to it are forgiven, those claimed
        after it (still being checked) stay; the lock is lifted unless those alone reach lock_after."""
        ...
