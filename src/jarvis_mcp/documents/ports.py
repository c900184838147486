"""The documents toolset's ports: what its service needs from the world."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class NewDocument:
    id: str
    title: str
    filename: str
    mime_type: str
    size: int
    sha256: str
    tags: tuple[str, ...]
    pages: int | None
    text: str
    search_key: str  # folded title + filename: what list_documents(query) matches



@dataclass(frozen=True)
class DocumentRecord:
    id: str
    title: str
    filename: str
    mime_type: str
    size: int
    sha256: str
    tags: tuple[str, ...]
    pages: int | None
    chars: int
    chunks: int | None  # None while its passages are not all indexed
    created_at: float


class QuotaExceeded(Exception):
    """Storing a document would take the user past their document storage limit."""

    def __init__(self, used: int, limit: int) -> None:
        super().__init__(f"{used} of {limit} bytes used")
        self.used = used
        self.limit = limit


class DocumentRecords(Protocol):
    """Documents' metadata and extracted text in the relational store; their passages are memories
    carrying document_id (written through the memory store)."""

    def add_document(self, user_id: str, doc: NewDocument, max_user_bytes: int) -> tuple[DocumentRecord, bool]:
        """Insert (created True), or return the user's document with the same sha256 (created False).
        Raises QuotaExceeded when the new document would take the user past max_user_bytes."""
        ...
    def mark_document_indexed(self, user_id: str, document_id: str, chunks: int) -> None: ...
    def get_document(self, user_id: str, document_id: str) -> DocumentRecord | None: ...
    def document_by_sha256(self, user_id: str, sha256: str) -> DocumentRecord | None: ...
    def document_text(self, user_id: str, document_id: str) -> str | None: ...
    def list_documents(self, user_id: str, query: str | None, tags: Sequence[str], limit: int) -> list[DocumentRecord]: ...
    def document_usage(self, user_id: str) -> tuple[int, int]:
        """(documents, bytes) the user stores."""
        ...
    def delete_document(self, user_id: str, document_id: str) -> DocumentRecord | None:
        """Delete the document and its passages (memories, keywords, vectors, cache); None if not found."""
        ...


class DocumentStore(Protocol):
    """The original bytes of users' documents, content-addressed: the key is the sha256 hex of the bytes.

    Every adapter accepts only a 64-hex key and a UUID user id and keeps each user's objects under that
    user's own prefix, so no argument can name another user's object or a place outside the store.
    """

    def put(self, user_id: str, key: str, data: bytes, mime_type: str) -> None:
        """Store (idempotent: the same key is the same bytes)."""
        ...
    def get(self, user_id: str, key: str) -> bytes | None: ...
    def delete(self, user_id: str, key: str) -> None:
        """Remove if present (idempotent)."""
        ...
    def signed_url(self, user_id: str, key: str, filename: str, expires_in: int) -> str | None:
        """A short-lived download link, or None where the backend has no such thing (local files)."""
        ...
