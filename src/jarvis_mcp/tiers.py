"""Usage tiers: how many tool calls of each class (reads, writes) a user may make per period.

Apart from config.py (which re-exports them) to keep that file short; a leaf module.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ClassLimits(BaseModel):
    """Tool calls of one class (read-only tools, or tools that write) per period; None: no limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    per_minute: int | None = Field(None, ge=0)
    daily: int | None = Field(None, ge=0)
    monthly: int | None = Field(None, ge=0)


class TierLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    read: ClassLimits = ClassLimits()
    write: ClassLimits = ClassLimits()


def _default_tiers() -> dict[str, TierLimits]:
    return {
        "free": TierLimits(read=ClassLimits(per_minute=60, daily=1_000, monthly=20_000),
                           write=ClassLimits(per_minute=20, daily=200, monthly=4_000)),
        "pro": TierLimits(read=ClassLimits(per_minute=300, daily=20_000, monthly=500_000),
                          write=ClassLimits(per_minute=120, daily=5_000, monthly=100_000)),
        "unlimited": TierLimits(),
    }
