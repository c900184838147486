"""The actions toolset's models: what its tools return."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class VoiceKeyStatus(BaseModel):
    has_voice_key: bool
    locked_until: datetime | None = None
    attempts_left: int | None = Field(None, description="Wrong phrases allowed before the key locks.")


#: unknown: the provider may or may not have acted (a timeout mid-send, a crash); it is never done again
#: unless the person confirms a resend.
ActionStatus = Literal[
    "pending_confirmation", "queued", "sending", "sent", "not_delivered", "completed", "failed", "cancelled", "expired",
    "unknown",
]


class ActionOutcome(BaseModel):
    """An action on the world and where it stands. Nothing happened yet while confirmation_required."""

    action_id: str
    kind: str
    status: ActionStatus
    summary: str
    confirmation_required: bool = False
    reasons: list[str] = Field(default_factory=list, description="Why it needs confirmation.")
    expires_at: datetime | None = None
    how_to_confirm: str | None = Field(None, description="How to confirm a pending action, or how to send again "
                                                         "one whose status is unknown.")
    provider: str | None = None
    provider_ref: str | None = None
    delivered: bool | None = Field(None, description="True only when the provider accepted it; null while not "
                                                     "known (pending, in progress, or unknown).")
    result: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    replayed: bool = Field(False, description="This call matched an earlier identical one; nothing new was done.")
    created_at: datetime
    updated_at: datetime
