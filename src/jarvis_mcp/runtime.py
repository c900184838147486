"""What one server process holds: the open store, index, embedder and providers, and each caller's scope.

Bootstrap builds a Runtime from the settings (it alone knows the adapters); the server and the handlers
use it through this module, which imports no adapter.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from jarvis_mcp.account.credentials import Vault
from jarvis_mcp.account.ports import Limiter
from jarvis_mcp.actions.service import STALE_AFTER_S
from jarvis_mcp.calendar.service import CalendarFactory
from jarvis_mcp.calls.ports import Caller
from jarvis_mcp.config import Settings
from jarvis_mcp.contacts.service import SourceFactory
from jarvis_mcp.documents.ports import DocumentStore
from jarvis_mcp.documents.service import INDEX_JOB
from jarvis_mcp.events import ChangeBus, InProcessChangeBus, NoticingStore
from jarvis_mcp.inbox.service import InboxFactory
from jarvis_mcp.jobs.ports import MIRROR_JOB, SYNC_JOB, JobQueue, Progress
from jarvis_mcp.jobs.service import Handler, JobWorker
from jarvis_mcp.mail.service import MailerFactory
from jarvis_mcp.memory.ports import VectorIndex
from jarvis_mcp.ports import Cache, Embedder
from jarvis_mcp.scope import UserScope
from jarvis_mcp.sentiment.ports import SentimentAnalyzer
from jarvis_mcp.store import Store

log = logging.getLogger(__name__)

RECOVERY_JOIN_S = 30  # how long closing waits for a start-up recovery still running


@dataclass
class Runtime:
    """Built once per process by bootstrap.open_runtime; a UserScope per caller, made per request."""

    settings: Settings
    store: Store
    index: VectorIndex
    embedder: Embedder
    documents: DocumentStore | None = None
    cache: Cache | None = None
    limiter: Limiter | None = None
    caller: Caller | None = None  # one for the process: places calls for every user
    # Per-user providers: bootstrap's factories, called when one user's service first needs its provider.
    mailers: MailerFactory | None = None
    inboxes: InboxFactory | None = None
    sentiment: SentimentAnalyzer | None = None  # one for the process (the lexicon, or OpenAI); None: lexicon
    calendars: CalendarFactory | None = None
    contact_sources: SourceFactory | None = None
    # Change notices for live views (MCP subscriptions, /app): in-process, or Redis pub/sub across processes.
    changes: ChangeBus = field(default_factory=InProcessChangeBus)
    jobs: JobQueue | None = None  # long work kept in the store; None: done inline
    worker: JobWorker | None = None  # this process's worker for `jobs`, started by SharedRuntime
    _local_user: str | None = field(default=None, repr=False)
    _vault: Vault | None = field(default=None, repr=False)

    def scope_for(self, user_id: str) -> UserScope:
        # The user's writes to the store are told on the change bus (events.NoticingStore): every path
        # that changes an email's status, a memory or a contact goes through a scope's store.
        store = cast(Store, NoticingStore(self.store, user_id, self.changes))
        return UserScope(user_id, self.settings, store, self.index, self.embedder, files=self.documents,
                         contact_sources=self.contact_sources, cache=self.cache, limiter=self.limiter,
                         mailers=self.mailers, inboxes=self.inboxes, calendars=self.calendars, caller=self.caller, vault=self.vault,
                         changes=self.changes, job_queue=self.jobs,
                         wake_jobs=self.worker.wake if self.worker is not None else None,
                         sentiment_analyzer=self.sentiment)

    def start_worker(self) -> None:
        """The job worker on a daemon thread: what this process runs from the queue (any user's)."""
        if self.jobs is None or self.worker is not None:
            return

        def index_document(user_id: str, payload: dict[str, object], progress: Progress) -> dict[str, object]:
            return self.scope_for(user_id).documents.index_job(str(payload["document_id"]), progress)

        def sync_contacts(user_id: str, payload: dict[str, object], progress: Progress) -> dict[str, object]:
            # A sync whose tool call died mid-way: the stored sync token makes running it again resume.
            result = self.scope_for(user_id).contacts.sync(progress, provider=str(payload["provider"]))
            return result.model_dump(mode="json")

        handlers: dict[str, Handler] = {INDEX_JOB: index_document, SYNC_JOB: sync_contacts}
        mirror = getattr(self.store, "mirror_job", None)  # a store mirrored to Pinecone retries from the queue
        if mirror is not None:
            handlers[MIRROR_JOB] = mirror
        make = getattr(self.jobs, "make_worker", None)  # Postgres: procrastinate's worker runs the queue
        self.worker = (make(lambda queue: JobWorker(queue, handlers, bus=self.changes)) if make
                       else JobWorker(self.jobs, handlers, bus=self.changes))
        self.worker.start()

    def vault(self) -> Vault:
        """The credential key, derived once per process and only when first needed: most requests never
        touch credentials, and a server that stores none never creates the key file."""
        if self._vault is None:
            self._vault = Vault.for_settings(self.settings)  # a race derives the same key twice: harmless
        return self._vault

    def local_user_id(self) -> str:
        if self._local_user is None:
            self._local_user = self.store.user_for_identity("local", self.settings.user, "local", None)
        return self._local_user

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()  # a job still running past the wait is left to its lease: taken up again later
            self.worker = None
        self.store.close()
        for part in (self.documents, self.cache, self.changes):
            close = getattr(part, "close", None)  # only some backends hold connections
            if close:
                close()


def recover_actions(runtime: Runtime) -> int:
    """Finish, for every user, the actions a crash left queued or sending; how many were found.

    Each runs through its owner's ActionService, whose compare-and-set steps make a race with another
    process (or a lazy recovery in get_action) harmless. Logs say which action, never its arguments.
    """
    try:
        unfinished = runtime.store.outbox_unfinished(time.time() - STALE_AFTER_S)
    except Exception:
        log.exception("could not list the actions left unfinished")
        return 0
    for user_id, record in unfinished:
        try:
            outcome = runtime.scope_for(user_id).actions.recover(record)
        except Exception:
            log.exception("recovering action %s (%s) of user %s failed", record.id, record.kind, user_id)
            continue
        log.info("recovered action %s (%s) of user %s: was %s, now %s", record.id, record.kind, user_id,
                 record.status, outcome.status)
    return len(unfinished)


def start_recovery(runtime: Runtime) -> threading.Thread:
    """recover_actions in a daemon thread: a provider that is slow to answer must not delay start-up."""
    thread = threading.Thread(target=recover_actions, args=(runtime,), name="jarvis-outbox-recovery", daemon=True)
    thread.start()
    return thread


class SharedRuntime:
    """One runtime per process however many sessions enter the server's lifespan.

    Streamable HTTP enters the lifespan once, but every legacy SSE connection and every in-process client
    enters it again; they must share the open store and the loaded model instead of opening their own.
    `opener` is the composition root's (bootstrap.open_runtime): this module never picks an adapter.
    """

    def __init__(self, settings: Settings, opener: Callable[[Settings], Runtime], *, recover: bool = True) -> None:
        self.settings = settings
        self._open = opener
        self._recover = recover  # off for a read-only server: it must not carry out actions
        self.recovery: threading.Thread | None = None
        self._runtime: Runtime | None = None
        self._users = 0
        self._lock = threading.Lock()

    def acquire(self) -> Runtime:
        with self._lock:
            if self._runtime is None:
                self._runtime = self._open(self.settings)
                if self._recover:
                    self.recovery = start_recovery(self._runtime)
                    self._runtime.start_worker()
            self._users += 1
            return self._runtime

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._runtime is not None:
                if self.recovery is not None:
                    # A recovery mid-send finishes its row rather than leaving it for the next start.
                    self.recovery.join(timeout=RECOVERY_JOIN_S)
                    self.recovery = None
                self._runtime.close()
                self._runtime = None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the server is not running (no lifespan entered)")
        return self._runtime
