"""The ports: what the services need from the world. Adapters implement them; only bootstrap picks one."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Turns text into unit-length float32 vectors. `model_id` and `dim` are recorded by the store."""

    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an array of shape (len(texts), dim), float32, each row L2-normalised."""
        ...


@dataclass(frozen=True)
class MemoryFilter:
    """Applied before ranking, by every index: a filtered search ranks only the rows that pass."""

    kinds: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None  # any of these tags
    since: float | None = None  # epoch seconds, inclusive, on occurred_at (else created_at)
    until: float | None = None

    @property
    def empty(self) -> bool:
        return not (self.kinds or self.tags or self.since is not None or self.until is not None)


@dataclass(frozen=True)
class NewMemory:
    kind: str
    text: str
    content_hash: str
    tags: tuple[str, ...] = ()
    occurred_at: float | None = None
    conversation_id: str | None = None
    role: str | None = None
    position: int | None = None
    document_id: str | None = None  # a passage of this document (kind 'document')


@dataclass(frozen=True)
class MemoryRecord:
    seq: int
    id: str
    kind: str
    text: str
    tags: tuple[str, ...]
    occurred_at: float | None
    created_at: float
    conversation_id: str | None = None
    role: str | None = None
    document_id: str | None = None
    document_title: str | None = None


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


class Store(Protocol):
    """Relational data. Every method takes the caller's user id and touches only that user's rows."""

    def ensure_embedding_model(self, model_id: str, dim: int) -> None: ...
    def user_for_identity(self, issuer: str, subject: str, auth_method: str, email: str | None) -> str: ...
    def get_user(self, user_id: str) -> UserRecord | None: ...
    def update_user(self, user_id: str, fields: dict[str, object]) -> UserRecord: ...

    def insert_memories(self, user_id: str, items: Sequence[NewMemory], vectors: np.ndarray) -> list[MemoryRecord]: ...
    def memories_by_hash(self, user_id: str, hashes: Sequence[str]) -> dict[str, MemoryRecord]: ...
    def memories_by_id(self, user_id: str, ids: Sequence[str]) -> list[MemoryRecord]: ...
    def memories_by_seq(self, user_id: str, seqs: Sequence[int]) -> list[MemoryRecord]: ...
    def recent_memories(self, user_id: str, limit: int) -> list[MemoryRecord]: ...
    def delete_memories(self, user_id: str, ids: Sequence[str]) -> list[str]: ...
    def keyword_search(self, user_id: str, terms: Sequence[str], flt: MemoryFilter, limit: int) -> list[int]: ...
    def keyword_stats(self, user_id: str, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        """(number of memories, {term: memories containing it}): how rare each query word is."""
        ...
    def count_memories(self, user_id: str) -> int: ...
    def index_version(self, user_id: str) -> int:
        """Bumped by every write to the user's memories (0 for none): what cached searches are keyed on."""
        ...
    def user_limits(self, user_id: str) -> UserLimitsRecord | None:
        """The user's row of user_limits (tier and overrides), None for the default tier."""
        ...

    def add_conversation(self, user_id: str, conversation: ConversationRecord) -> None: ...
    def recent_conversations(self, user_id: str, limit: int) -> list[ConversationRecord]: ...
    def record_action(self, user_id: str, tool: str, arguments: dict[str, object], status: str,
                      error: str | None, duration_ms: float) -> None: ...
    def recent_actions(self, user_id: str, limit: int) -> list[ActionRecord]: ...
    def usage(self, user_id: str, days: int) -> list[tuple[str, str, int, int]]: ...

    # Documents: metadata and extracted text; passages are memories carrying document_id.
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


class VectorIndex(Protocol):
    """Nearest neighbours among one user's memories, filters applied before ranking."""

    def search(self, user_id: str, vector: np.ndarray, flt: MemoryFilter, limit: int) -> list[tuple[int, float]]:
        """(memory seq, cosine similarity), best first."""
        ...


@dataclass(frozen=True)
class IndexEntry:
    """One memory's vector and the fields filters apply to, as an external index stores it."""

    seq: int
    vector: np.ndarray
    kind: str
    tags: tuple[str, ...]
    ts: float  # occurred_at, else created_at
    document_id: str | None = None


class ExternalVectorIndex(VectorIndex, Protocol):
    """A VectorIndex outside the store (Pinecone). The store is written first and stays the source of
    truth; the same change is then sent here (adapters/mirrored_store.py). Writes are idempotent."""

    def upsert(self, user_id: str, entries: Sequence[IndexEntry]) -> None: ...
    def delete(self, user_id: str, seqs: Sequence[int]) -> None: ...
    def delete_document(self, user_id: str, document_id: str) -> None:
        """Remove every passage of that document."""
        ...


# -- contacts -------------------------------------------------------------------------------------


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


class CredentialStore(Protocol):
    """Per-user provider credentials, stored as the opaque (already encrypted) bytes it is given."""

    def get_credential(self, user_id: str, provider: str) -> bytes | None: ...
    def put_credential(self, user_id: str, provider: str, secret: bytes) -> None: ...
    def delete_credential(self, user_id: str, provider: str) -> bool: ...


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


class ProviderFailure(Exception):
    """A provider failed after its bounded retries, or refused the credentials (auth=True).
    The message is safe to show; with auth, the user must connect the provider again."""

    def __init__(self, message: str, *, auth: bool = False) -> None:
        super().__init__(message)
        self.auth = auth


class ContactSourceError(ProviderFailure):
    """Google People (or another contact source) failed."""


class ContactSource(Protocol):
    """A provider of the user's contacts (Google People). Built per user from that user's credentials."""

    provider: str

    def pages(self, sync_token: str | None) -> Iterator[SourcePage]:
        """Every change since sync_token (everything when None, or when the token has expired)."""
        ...


# -- cache and limits -----------------------------------------------------------------------------


class Cache(Protocol):
    """Bytes with a time to live, and counters; every key lives under one user's namespace.

    A cache may forget anything at any time (memory bound, restart): callers treat a miss as normal.
    """

    def get(self, user_id: str, key: str) -> bytes | None: ...
    def set(self, user_id: str, key: str, value: bytes, ttl: float) -> None: ...
    def incr(self, user_id: str, counter: str, amount: int = 1) -> int:
        """Add to a counter and return its new value (amount 0 reads it)."""
        ...


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


# -- actions on the world: the outbox and the voice key ----------------------------------------------


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


# -- mail -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MailReceipt:
    provider: str  # outbox | smtp | gmail
    provider_ref: str | None  # the provider's id for the message (Gmail id, SMTP queue reply, outbox file)
    delivered: bool  # True only when a real provider accepted it for delivery
    detail: str  # what happened, in words a person can read


class MailError(Exception):
    """The provider refused or failed; the message is the provider's own, safe to show.

    retryable: worth trying again (HTTP 429/5xx, SMTP 4xx, connection trouble before sending).
    ambiguous: the provider may have accepted the message anyway (a timeout mid-send): never resent unless a
    lookup finds it was sent; the action's outcome is unknown otherwise.
    """

    def __init__(self, message: str, *, retryable: bool = False, ambiguous: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.ambiguous = ambiguous
        self.retry_after = retry_after


@runtime_checkable
class Mailer(Protocol):
    """Sends one user's RFC 5322 messages (email.message.EmailMessage). Built per user by bootstrap.

    idempotency_key is the outbox action id: stable across retries, for providers that can use one.
    An adapter may also offer `find_sent(message_id) -> provider_ref | None` (the Message-ID header,
    angle brackets included) so an action interrupted mid-send can be reconciled instead of resent.
    """

    provider: str

    def send(self, message: EmailMessage, *, idempotency_key: str) -> MailReceipt: ...


# -- calendar -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewEvent:
    """An event to create. `id` is chosen by the caller (from the action id), so a retried insert finds
    the first one instead of creating a second."""

    id: str  # 32 lower-case hex digits: valid as a Google Calendar event id too
    title: str
    start: float  # epoch seconds
    end: float
    timezone: str  # IANA name the event is shown in
    attendees: tuple[str, ...] = ()  # email addresses
    location: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class EventRecord:
    id: str  # the provider's reference
    title: str
    start: float
    end: float
    timezone: str
    attendees: tuple[str, ...] = ()
    location: str | None = None
    description: str | None = None
    link: str | None = None  # where the provider shows it (Google's htmlLink)
    created_at: float | None = None


class CalendarError(ProviderFailure):
    """The calendar provider failed. ambiguous: a write may have gone through (an attempt got no answer)."""

    def __init__(self, message: str, *, auth: bool = False, ambiguous: bool = False) -> None:
        super().__init__(message, auth=auth)
        self.ambiguous = ambiguous


class Calendar(Protocol):
    """One user's calendar (local, or Google), built for that user; times are epoch seconds."""

    provider: str

    def insert(self, event: NewEvent) -> str:
        """Create it and return the provider's reference; the same event id again returns the same event."""
        ...
    def get(self, ref: str) -> EventRecord | None: ...
    def list(self, start: float, end: float, limit: int) -> list[EventRecord]:
        """Events overlapping [start, end), by start time (recurring events expanded)."""
        ...
    def delete(self, ref: str, notify: bool) -> bool:
        """False when there was no such event. notify: tell the attendees."""
        ...
    def busy(self, start: float, end: float) -> list[tuple[float, float]]:
        """Busy intervals overlapping [start, end) (Google: free/busy, which also sees other calendars)."""
        ...


class CalendarStore(Protocol):
    """The local calendar's events in the store; every method touches one user's rows only."""

    def calendar_insert(self, user_id: str, event: NewEvent) -> EventRecord:
        """Insert, or return the user's event with that id unchanged (idempotent)."""
        ...
    def calendar_get(self, user_id: str, event_id: str) -> EventRecord | None: ...
    def calendar_list(self, user_id: str, start: float, end: float, limit: int) -> list[EventRecord]: ...
    def calendar_delete(self, user_id: str, event_id: str) -> bool: ...


# -- calls ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentSpec:
    """How one contact's voice agent sounds and behaves (the contact's own configuration)."""

    contact_id: str
    contact_name: str
    voice: str | None  # the provider's voice id; None: the configured default
    personality: str | None
    language: str | None


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


class CallerError(Exception):
    """The provider refused (its message, safe to show) or stayed unavailable after bounded retries.

    ambiguous: the provider may have placed the call anyway and could not be asked; never place it again unasked.
    """

    def __init__(self, message: str, *, ambiguous: bool = False) -> None:
        super().__init__(message)
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
    def set_contact_agent(self, user_id: str, contact_id: str, agent_id: str) -> str | None:
        """Save the agent on the contact unless one is saved already; the contact's agent id afterwards
        (the first one saved wins a race), or None when the user has no such contact."""
        ...
