"""The account toolset's models: what its tools return."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from jarvis_mcp.memory.models import DATA_NOTICE, Memory


class Profile(BaseModel):
    name: str | None = None
    pronouns: str | None = None
    timezone: str | None = None
    locale: str | None = None
    preferences: dict[str, str] = Field(default_factory=dict)
    onboarding_complete: bool
    missing: list[str] = Field(description="Profile fields still to ask the user for.")
    member_since: datetime


class ActionEntry(BaseModel):
    tool: str
    status: str
    error: str | None = None
    at: datetime
    duration_ms: float


class ConversationEntry(BaseModel):
    conversation_id: str
    title: str | None
    started_at: datetime
    turns: int


class History(BaseModel):
    conversations: list[ConversationEntry]
    recent_memories: list[Memory]
    actions: list[ActionEntry]
    notice: str = DATA_NOTICE


class UsageDay(BaseModel):
    day: str
    tool: str
    calls: int
    errors: int


class Usage(BaseModel):
    memories: int
    conversations: int
    days: list[UsageDay]


class LimitStatus(BaseModel):
    tool_class: Literal["read", "write"] = Field(description="read: read-only tools; write: tools that change data.")
    period: Literal["minute", "day", "month"]
    limit: int = Field(description="Tool calls allowed per period.")
    used: int
    remaining: int
    resets_at: datetime = Field(description="When this period's count starts again (UTC).")


class CacheFigures(BaseModel):
    hits: int
    misses: int
    hit_rate: float | None = Field(description="hits / (hits + misses); null before any lookup.")
    search_hits: int
    search_misses: int
    embedding_hits: int
    embedding_misses: int


class UsageReport(Usage):
    tier: str
    limits: list[LimitStatus] = Field(description="Empty when the tier has no limits.")
    cache: CacheFigures
