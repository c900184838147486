"""The account toolset's ports: what its service needs from the world."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True)
class UserRecord:
    id: str
    name: str | None
    pronouns: str | None
    timezone: str | None
    locale: str | None
    preferences: dict[str, str]
    created_at: float
    has_voice_key: bool = False



@dataclass(frozen=True)
class ConversationRecord:
    id: str
    title: str | None
    started_at: float
    turns: int



@dataclass(frozen=True)
class ActionRecord:
    tool: str
    status: str
    error: str | None
    created_at: float
    duration_ms: float


class UserStore(Protocol):
    """Users: who an identity is, their profile, and their tier of usage limits."""

    def user_for_identity(self, issuer: str, subject: str, auth_method: str, email: str | None) -> str:
        """The user id of this (issuer, subject), created with its first sign-in."""
        ...
    def get_user(self, user_id: str) -> UserRecord | None: ...
    def update_user(self, user_id: str, fields: dict[str, object]) -> UserRecord: ...
    def user_limits(self, user_id: str) -> UserLimitsRecord | None:
        """The user's row of user_limits (tier and overrides), None for the default tier."""
        ...


class HistoryStore(Protocol):
    """What the user has done: their logged conversations, the audit of every call, and its daily sums."""

    def recent_conversations(self, user_id: str, limit: int) -> list[ConversationRecord]: ...
    def record_action(self, user_id: str, tool: str, arguments: dict[str, object], status: str,
                      error: str | None, duration_ms: float) -> None: ...
    def recent_actions(self, user_id: str, limit: int) -> list[ActionRecord]: ...
    def usage(self, user_id: str, days: int) -> list[tuple[str, str, int, int]]:
        """(day, tool, calls, errors) for the last `days` days."""
        ...


class CredentialStore(Protocol):
    """Per-user provider credentials, stored as the opaque (already encrypted) bytes it is given."""

    def get_credential(self, user_id: str, provider: str) -> bytes | None: ...
    def put_credential(self, user_id: str, provider: str, secret: bytes) -> None: ...
    def delete_credential(self, user_id: str, provider: str) -> bool: ...


Period = Literal["minute", "day", "month"]



@dataclass(frozen=True)
class Limit:
    """At most `max` units per calendar `period` (UTC; fixed windows). `label` names it in messages."""

    period: Period
    max: int
    label: str = ""



@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: Limit | None  # the limit that refused; when allowed, the one with the least room left
    used: int  # units counted in that limit's window, this hit included
    remaining: int
    reset_at: float  # epoch seconds when that limit's window ends



@dataclass(frozen=True)
class UserLimitsRecord:
    tier: str
    overrides: dict[str, int] = field(default_factory=dict)  # e.g. {"write_daily": 500}


class Limiter(Protocol):
    def hit(self, user_id: str, limit_name: str, cost: int, limits: Sequence[Limit]) -> Decision:
        """Count `cost` units against every limit of the counter `limit_name`, atomically: either all
        of them have room and all are charged, or none is charged and the first full one is reported.
        Cost 0 charges nothing and reports the room left. Shared by every process using the backend."""
        ...
