"""The contacts toolset's ports: what its service needs from the world."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from jarvis_mcp.ports import ProviderFailure


@dataclass(frozen=True)
class ContactRecord:
    id: str
    name: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]  # E.164
    company: str | None
    role: str | None
    tags: tuple[str, ...]
    notes: str | None
    relationship: str | None
    source: str  # manual | google | import
    source_id: str | None
    agent_id: str | None
    voice: str | None
    personality: str | None
    created_at: float
    updated_at: float



@dataclass(frozen=True)
class ContactWrite:
    """A whole contact to insert (id None) or to replace (id set; agent fields are left alone)."""

    id: str | None
    name: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    company: str | None
    role: str | None
    tags: tuple[str, ...]
    notes: str | None
    relationship: str | None
    source: str
    source_id: str | None
    notes_vector: np.ndarray | None = None
    keep_vector: bool = False  # an update whose notes did not change keeps the stored vector



@dataclass(frozen=True)
class ContactMatch:
    record: ContactRecord
    score: float
    matched: tuple[str, ...]  # the fields that matched, best first
    coverage: float  # share of the query's terms that matched some field


class ContactStore(Protocol):
    """One user's contacts. Another user's contact is simply absent from every answer."""

    def contacts_by_id(self, user_id: str, ids: Sequence[str]) -> list[ContactRecord]: ...
    def contacts_by_handles(self, user_id: str, emails: Sequence[str], phones: Sequence[str]) -> list[tuple[str, ContactRecord]]:
        """(the email or E.164 phone that matched, contact) for exact handle matches."""
        ...
    def contacts_by_source(self, user_id: str, source: str, source_ids: Sequence[str]) -> dict[str, ContactRecord]: ...
    def contacts_by_name(self, user_id: str, names_folded: Sequence[str]) -> list[ContactRecord]: ...
    def source_ids(self, user_id: str, source: str) -> dict[str, str]:
        """source_id -> contact id for every contact of that source."""
        ...
    def write_contacts(self, user_id: str, writes: Sequence[ContactWrite]) -> list[ContactRecord]: ...
    def delete_contacts(self, user_id: str, ids: Sequence[str]) -> list[str]: ...
    def list_contacts(self, user_id: str, offset: int, limit: int) -> list[ContactRecord]:
        """Ordered by name (folded), then id."""
        ...
    def count_contacts(self, user_id: str) -> int: ...
    def search_contacts(self, user_id: str, query: str, tags: Sequence[str] | None, limit: int) -> list[ContactMatch]:
        """Lexical matching over name, emails, phones, company, role, relationship, tags and notes."""
        ...
    def nearest_contacts(self, user_id: str, vector: np.ndarray, tags: Sequence[str] | None,
                         limit: int) -> list[tuple[ContactRecord, float]]:
        """Contacts whose notes are closest to the vector (cosine), best first."""
        ...
    def get_sync_token(self, user_id: str, provider: str) -> str | None: ...
    def set_sync_token(self, user_id: str, provider: str, token: str | None) -> None: ...



@dataclass(frozen=True)
class SourceContact:
    """A person as a provider returns it; phones are raw strings, normalised by the contacts service."""

    source_id: str
    deleted: bool = False
    name: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    company: str | None = None
    role: str | None = None
    notes: str | None = None



@dataclass(frozen=True)
class SourcePage:
    contacts: tuple[SourceContact, ...]
    full: bool  # a listing of every contact, not only the changes since a sync token
    total: int | None
    next_sync_token: str | None = None  # only on the last page


class ContactSourceError(ProviderFailure):
    """Google People (or another contact source) failed."""


class ContactSource(Protocol):
    """A provider of the user's contacts (Google People). Built per user from that user's credentials."""

    provider: str

    def pages(self, sync_token: str | None) -> Iterator[SourcePage]:
        """Every change since sync_token (everything when None, or when the token has expired)."""
        ...
