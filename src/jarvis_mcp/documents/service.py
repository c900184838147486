"""Documents for one user: add (validate, detect, extract, chunk, embed, index), list, read, delete, and
the bytes of an attachment for the mailer. Passages are memories of kind 'document', so search_memory
finds them next to everything else the user stored."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from jarvis_mcp.documents.ingest import (
    EXTENSIONS,
    Chunk,
    Extracted,
    chunk_blocks,
    detect_type,
    embedding_texts,
    extract,
    normalise_mime,
)
from jarvis_mcp.documents.models import (
    DocumentAdded,
    DocumentDeleted,
    DocumentInfo,
    DocumentList,
    DocumentText,
)
from jarvis_mcp.documents.ports import (
    DocumentRecord,
    DocumentRecords,
    DocumentStore,
    NewDocument,
    QuotaExceeded,
)
from jarvis_mcp.errors import InvalidInput, NotFound
from jarvis_mcp.jobs.ports import NewJob, Progress
from jarvis_mcp.jobs.service import JobService
from jarvis_mcp.memory.ports import MemoryStore, NewMemory
from jarvis_mcp.ports import Embedder
from jarvis_mcp.text import clean_tags, content_hash, fold, from_epoch

log = logging.getLogger(__name__)

MAX_TITLE_CHARS = 200
MAX_FILENAME_CHARS = 200
MAX_LIST = 100
MAX_READ_CHARS = 200_000
# Beyond this much text only the beginning is indexed: embedding costs ~20 ms a passage here, and one
# upload must not hold the model for many minutes. The whole text is still stored and readable.
MAX_INDEXED_CHARS = 3_000_000
EMBED_BATCH = 64
# Above this much text, indexing goes to the job queue and add_document answers at once with a job id.
# Measured here: ~5,000 characters a second (100 PDF pages, ~300k characters, took 56 s); 60k is ~12 s,
# well inside the 60 s many clients wait, with the rest of the call (extraction, storage) on top.
QUEUE_ABOVE_CHARS = 60_000
INDEX_JOB = "index_document"
# Bidirectional overrides and isolates make "invoice\u202efdp.exe" display as "invoiceexe.pdf".
_BIDI = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_UNSAFE_FILENAME_CHARS = re.compile(r'[<>:"|?*]')


def indexed_chunks(extracted: Extracted) -> list[Chunk]:
    """The passages a document is indexed as (its first MAX_INDEXED_CHARS): add_document, and `jarvis-mcp
    reindex` when it embeds them again with another model."""
    blocks, total = [], 0
    for block in extracted.blocks:
        total += len(block.text)
        if total > MAX_INDEXED_CHARS:
            break
        blocks.append(block)
    return chunk_blocks(blocks)


def document_uri(document_id: str) -> str:
    return f"jarvis://me/documents/{document_id}"


@dataclass(frozen=True)
class Attachment:
    """What the mailer needs to attach one of the caller's documents: never a path, always the bytes."""

    filename: str
    mime_type: str
    data: bytes


def _no_controls(field: str, value: str) -> None:
    for ch in value:
        if ch in _BIDI or unicodedata.category(ch) == "Cc":
            raise InvalidInput(field, f"must not contain control characters (found U+{ord(ch):04X})")


def clean_title(title: str) -> str:
    title = unicodedata.normalize("NFC", title or "").strip()
    if not title:
        raise InvalidInput("title", "must not be empty")
    if len(title) > MAX_TITLE_CHARS:
        raise InvalidInput("title", f"must be at most {MAX_TITLE_CHARS} characters (got {len(title)})")
    _no_controls("title", title)
    if "/" in title or "\\" in title:
        raise InvalidInput("title", "must not contain path separators (/ or \\); it is a title, not a path")
    if title.strip(".") == "" or title.startswith(".."):
        raise InvalidInput("title", "must not be or start with '..'")
    return title


def clean_filename(filename: str, field: str = "filename") -> str:
    name = unicodedata.normalize("NFC", filename or "").strip()
    if not name:
        raise InvalidInput(field, "must not be empty")
    _no_controls(field, name)
    if "/" in name or "\\" in name:
        raise InvalidInput(field, "must be a bare file name: no path separators (/ or \\)")
    if ".." in name:
        raise InvalidInput(field, "must not contain '..'")
    if name.startswith(".") or _UNSAFE_FILENAME_CHARS.search(name):
        raise InvalidInput(field, 'must not start with "." or contain any of < > : " | ? *')
    if len(name) > MAX_FILENAME_CHARS:
        raise InvalidInput(field, f"must be at most {MAX_FILENAME_CHARS} characters (got {len(name)})")
    return name


def _filename_from_title(title: str, mime_type: str) -> str:
    stem = re.sub(r"[^\w\-., ()]+", "_", title).strip(" ._") or "document"
    stem = re.sub(r"\.{2,}", ".", stem)[: MAX_FILENAME_CHARS - 8]
    return stem + EXTENSIONS[mime_type]


def _with_extension(filename: str, mime_type: str) -> str:
    ext = EXTENSIONS[mime_type]
    return filename if filename.lower().endswith(ext) or (ext == ".html" and filename.lower().endswith(".htm")) \
        else filename + ext


def _valid_id(document_id: str) -> bool:
    try:
        return str(uuid.UUID(document_id)) == document_id
    except (ValueError, AttributeError, TypeError):
        return False


def to_info(rec: DocumentRecord) -> DocumentInfo:
    uri = document_uri(rec.id)
    return DocumentInfo(
        id=rec.id, title=rec.title, filename=rec.filename, mime_type=rec.mime_type, size_bytes=rec.size,
        pages=rec.pages, chars=rec.chars, passages=rec.chunks, tags=list(rec.tags),
        created_at=from_epoch(rec.created_at),
        uri=uri, original_uri=f"{uri}/original",
    )


class DocumentService:
    def __init__(self, user_id: str, store: DocumentRecords, files: DocumentStore, embedder: Embedder, *,
                 memories: MemoryStore, max_document_bytes: int, max_user_bytes: int,
                 signed_url_seconds: int = 60, jobs: JobService | None = None) -> None:
        self.user_id = user_id
        self.store = store
        self.memories = memories  # where the passages go: memories carrying document_id
        self.files = files
        self.embedder = embedder
        self.max_document_bytes = max_document_bytes
        self.max_user_bytes = max_user_bytes
        self.signed_url_seconds = signed_url_seconds
        self.jobs = jobs  # None: everything is indexed inline (the CLI import, read-only servers)

    # -- adding ---------------------------------------------------------------------------------

    def add(self, title: str, text: str | None = None, content_base64: str | None = None,
            mime_type: str | None = None, tags: list[str] | None = None, filename: str | None = None,
            progress: Progress | None = None) -> DocumentAdded:
        """From a tool call: the document as text, or as base64 bytes. Everything is checked before any write."""
        title = clean_title(title)
        clean = clean_tags("tags", tags)
        if filename is not None:
            filename = clean_filename(filename)
        declared = normalise_mime("mime_type", mime_type)
        if (text is None) == (content_base64 is None):
            raise InvalidInput("text", "give the document either as text or as content_base64 (with mime_type), not both"
                               if text is not None else "give the document as text, or as content_base64 with mime_type")
        if text is not None:
            # Every character is at least one byte: refuse before encoding a huge string.
            if len(text) > self.max_document_bytes:
                raise InvalidInput("text", f"must be at most {self.max_document_bytes} bytes")
            data = text.encode("utf-8")
        else:
            data = self._decode_base64(content_base64 or "")
        return self.add_bytes(data, title=title, filename=filename, mime_type=declared, tags=list(clean),
                              progress=progress)

    def _decode_base64(self, value: str) -> bytes:
        # Bound the size on the encoded form, before decoding allocates anything.
        limit = 4 * -(-self.max_document_bytes // 3)
        if len(value) > limit:
            raise InvalidInput("content_base64", f"encodes more than {self.max_document_bytes} bytes, the per-document limit")
        if not value:
            raise InvalidInput("content_base64", "must not be empty")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(
                "content_base64", "is not valid base64 (standard alphabet A-Z a-z 0-9 + /, '=' padding, no spaces)"
            ) from None

    def add_bytes(self, data: bytes, *, title: str, filename: str | None = None, mime_type: str | None = None,
                  tags: list[str] | None = None, progress: Progress | None = None) -> DocumentAdded:
        """Add raw bytes (the CLI import and add() above). Re-adding the same bytes returns the stored document."""
        title = clean_title(title)
        clean = clean_tags("tags", tags)
        if filename is not None:
            filename = clean_filename(filename)
        if len(data) > self.max_document_bytes:
            raise InvalidInput("content", f"is {len(data)} bytes; the per-document limit is {self.max_document_bytes}")
        if not data.strip():
            raise InvalidInput("content", "is empty")
        kind = detect_type(data, normalise_mime("mime_type", mime_type), filename)
        sha = hashlib.sha256(data).hexdigest()
        existing = self.store.document_by_sha256(self.user_id, sha)
        if existing is not None:
            if existing.chunks is None:  # an earlier add was interrupted: finish indexing it
                existing = self._index(existing, extract(data, existing.mime_type))
            return DocumentAdded(document=to_info(existing), created=False, passages=existing.chunks or 0,
                                 warnings=["the same content was already stored; nothing new was written"])
        extracted = extract(data, kind)
        if progress:
            pages = f"{extracted.pages} pages, " if extracted.pages else ""
            progress(0, None, f"extracted {pages}{len(extracted.text)} characters")
        _, used = self.store.document_usage(self.user_id)
        if used + len(data) > self.max_user_bytes:
            raise self._quota_error(used)
        filename = _with_extension(filename, kind) if filename else _filename_from_title(title, kind)
        new = NewDocument(
            id=str(uuid.uuid4()), title=title, filename=filename, mime_type=kind, size=len(data), sha256=sha,
            tags=clean, pages=extracted.pages, text=extracted.text, search_key=fold(f"{title} {filename}"),
        )
        # Bytes first: a documents row must never point at content that is not there.
        self.files.put(self.user_id, sha, data, kind)
        try:
            rec, created = self.store.add_document(self.user_id, new, self.max_user_bytes)
        except QuotaExceeded as exc:
            self.files.delete(self.user_id, sha)
            raise self._quota_error(exc.used) from None
        if not created:  # the same bytes, added concurrently
            return DocumentAdded(document=to_info(rec), created=False, passages=rec.chunks or 0, warnings=[])
        if self.jobs is not None and min(len(extracted.text), MAX_INDEXED_CHARS) > QUEUE_ABOVE_CHARS:
            # Stored and readable now; the passages are embedded by the queue (the row says unfinished).
            job = self.jobs.enqueue(NewJob(INDEX_JOB, {"document_id": rec.id}, message="waiting to be indexed"))
            return DocumentAdded(document=to_info(rec), created=True, passages=0, job_id=job.id, warnings=[
                *extracted.warnings, f"indexing {len(extracted.text)} characters continues in the background: "
                f"call get_job with job_id {job.id} to follow it; the document is readable already"])
        try:
            rec = self._index(rec, extracted, progress)
        except BaseException:
            # Leave nothing half-made behind: no passages, no row, no bytes.
            self.store.delete_document(self.user_id, rec.id)
            self.files.delete(self.user_id, sha)
            raise
        warnings = list(extracted.warnings)
        if len(extracted.text) > MAX_INDEXED_CHARS:
            warnings.append(f"only the first {MAX_INDEXED_CHARS} characters are searchable; all of it is readable")
        return DocumentAdded(document=to_info(rec), created=True, passages=rec.chunks or 0, warnings=warnings)

    def _quota_error(self, used: int) -> InvalidInput:
        return InvalidInput("content", f"would exceed your document storage limit of {self.max_user_bytes} bytes "
                                       f"({used} used); delete documents you no longer need")

    def index_job(self, document_id: str, progress: Progress) -> dict[str, Any]:
        """The queue's index_document job: embed what is not embedded yet (a job taken over resumes)."""
        rec = self._get(document_id)  # deleted meanwhile: NotFound fails the job with a clear message
        if rec.chunks is None:
            data = self.files.get(self.user_id, rec.sha256)
            if data is None:
                raise NotFound("document content", document_id)
            rec = self._index(rec, extract(data, rec.mime_type), progress)
        return {"document_id": rec.id, "title": rec.title, "passages": rec.chunks or 0}

    def _index(self, rec: DocumentRecord, extracted: Extracted, progress: Progress | None = None) -> DocumentRecord:
        chunks = indexed_chunks(extracted)
        items = [
            NewMemory(
                kind="document", text=c.text, tags=rec.tags, position=i, document_id=rec.id,
                # Per document and position: the same paragraph in two documents is two passages.
                content_hash=content_hash("document", rec.id, str(i), c.text),
            )
            for i, c in enumerate(chunks)
        ]
        done = self.memories.memories_by_hash(self.user_id, [it.content_hash for it in items]) if items else {}
        todo = [(it, c) for it, c in zip(items, chunks, strict=True) if it.content_hash not in done]
        for start in range(0, len(todo), EMBED_BATCH):
            batch = todo[start : start + EMBED_BATCH]
            # The title rides along into the vector (not into the stored text): "my lease" finds the lease.
            views = [embedding_texts(rec.title, c) for _, c in batch]
            flat = self.embedder.embed([v for vs in views for v in vs])
            vectors = np.empty((len(batch), flat.shape[1]), np.float32)
            row = 0
            for i, vs in enumerate(views):
                mean = flat[row : row + len(vs)].mean(axis=0)
                vectors[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
                row += len(vs)
            self.memories.insert_memories(self.user_id, [it for it, _ in batch], vectors)
            if progress:
                done_now = len(items) - len(todo) + start + len(batch)
                progress(done_now, len(items), f"embedded {done_now} of {len(items)} passages")
        self.store.mark_document_indexed(self.user_id, rec.id, len(items))
        return DocumentRecord(rec.id, rec.title, rec.filename, rec.mime_type, rec.size, rec.sha256, rec.tags,
                              rec.pages, rec.chars, len(items), rec.created_at)

    # -- reading --------------------------------------------------------------------------------

    def _get(self, document_id: str) -> DocumentRecord:
        rec = self.store.get_document(self.user_id, document_id) if _valid_id(document_id) else None
        if rec is None:
            raise NotFound("document", document_id)
        return rec

    def info(self, document_id: str) -> DocumentInfo:
        return to_info(self._get(document_id))

    def list(self, query: str | None = None, tags: list[str] | None = None, limit: int = 20) -> DocumentList:
        if not 1 <= limit <= MAX_LIST:
            raise InvalidInput("limit", f"must be between 1 and {MAX_LIST}")
        if query is not None:
            query = query.strip()
            if len(query) > 200:
                raise InvalidInput("query", "must be at most 200 characters")
        recs = self.store.list_documents(self.user_id, fold(query) if query else None, clean_tags("tags", tags), limit)
        count, used = self.store.document_usage(self.user_id)
        return DocumentList(documents=[to_info(r) for r in recs], total=count, bytes_used=used,
                            bytes_limit=self.max_user_bytes)

    def read(self, document_id: str, max_chars: int = 20_000, offset: int = 0) -> DocumentText:
        if not 1 <= max_chars <= MAX_READ_CHARS:
            raise InvalidInput("max_chars", f"must be between 1 and {MAX_READ_CHARS}")
        if offset < 0:
            raise InvalidInput("offset", "must not be negative")
        rec = self._get(document_id)
        text = self.store.document_text(self.user_id, rec.id) or ""
        part = text[offset : offset + max_chars]
        end = offset + len(part)
        return DocumentText(
            document=to_info(rec), text=part, offset=offset, truncated=end < len(text),
            next_offset=end if end < len(text) else None, download_url=self.download_url(rec),
        )

    def text(self, document_id: str) -> str:
        rec = self._get(document_id)
        return self.store.document_text(self.user_id, rec.id) or ""

    def download_url(self, rec: DocumentRecord) -> str | None:
        return self.files.signed_url(self.user_id, rec.sha256, rec.filename, self.signed_url_seconds)

    def original(self, document_id: str) -> tuple[DocumentInfo, bytes]:
        rec = self._get(document_id)
        data = self.files.get(self.user_id, rec.sha256)
        if data is None:
            log.error("document %s of user %s has no stored bytes", rec.id, self.user_id)
            raise NotFound("document content", document_id)
        return to_info(rec), data

    def attachment(self, document_id: str) -> Attachment:
        """The caller's own document as (filename, mime_type, bytes) for an email; NotFound otherwise."""
        info, data = self.original(document_id)
        return Attachment(info.filename, info.mime_type, data)

    # -- deleting -------------------------------------------------------------------------------

    def delete(self, document_id: str) -> DocumentDeleted:
        rec = self._get(document_id)
        gone = self.store.delete_document(self.user_id, rec.id)
        if gone is None:  # deleted concurrently
            raise NotFound("document", document_id)
        try:
            self.files.delete(self.user_id, rec.sha256)
        except Exception:  # the row and passages are gone; stray bytes are only wasted space
            log.exception("could not delete the bytes of document %s", rec.id)
        return DocumentDeleted(document_id=rec.id, title=rec.title, passages_removed=rec.chunks or 0)
