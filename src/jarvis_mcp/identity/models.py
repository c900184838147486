"""The identity toolset's models: what its tool returns."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class IdentityEntry(BaseModel):
    method: str = Field(description="How this identity signs in: email, google, wallet, telegram, local, ...")
    subject: str = Field(description="Who it is, masked (a******@example.com, 0x12ab…cdef).")
    linked_at: datetime
    last_used_at: datetime


class IdentityList(BaseModel):
    identities: list[IdentityEntry]
    count: int
