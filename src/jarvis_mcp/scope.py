"""UserScope: the services bound to one resolved user. Handlers get a scope, never a user id to swap."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

from jarvis_mcp.account.credentials import CredentialService, Vault
from jarvis_mcp.account.ports import Limiter, UserRecord
from jarvis_mcp.account.service import AccountService
from jarvis_mcp.account.usage import UsageService
from jarvis_mcp.actions.service import ActionService, Executor
from jarvis_mcp.actions.voice_key import VoiceKeyService
from jarvis_mcp.calendar.service import CalendarFactory, CalendarService, CancelEvent, ScheduleEvent
from jarvis_mcp.calls.outcomes import CallOutcomes
from jarvis_mcp.calls.ports import Caller
from jarvis_mcp.calls.service import CallService
from jarvis_mcp.config import Settings
from jarvis_mcp.contacts.rules import region_from_locale
from jarvis_mcp.contacts.service import ContactService, SourceFactory
from jarvis_mcp.documents.ports import DocumentStore
from jarvis_mcp.documents.service import DocumentService
from jarvis_mcp.events import ChangeBus, publish_quietly
from jarvis_mcp.identity.service import IdentityService
from jarvis_mcp.inbox.service import InboxFactory, InboxService
from jarvis_mcp.jobs.ports import JobQueue
from jarvis_mcp.jobs.service import JobService
from jarvis_mcp.mail.service import MailerFactory, MailService
from jarvis_mcp.memory.models import ForgetResult
from jarvis_mcp.memory.ports import VectorIndex
from jarvis_mcp.memory.query_cache import QueryCache
from jarvis_mcp.memory.service import BULK_FORGET, BulkForget, MemoryService
from jarvis_mcp.ports import Cache, Embedder
from jarvis_mcp.sentiment.lexicon import LexiconAnalyzer
from jarvis_mcp.sentiment.ports import SentimentAnalyzer
from jarvis_mcp.sentiment.service import SentimentService
from jarvis_mcp.store import Store
from jarvis_mcp.timeline.recorder import InteractionRecorder
from jarvis_mcp.timeline.service import TimelineService


class LazyExecutors(Mapping[str, "Executor"]):
    def __init__(self, factories: dict[str, Callable[[], Executor]]) -> None:
        self._factories = factories
        self._built: dict[str, Executor] = {}

    def __getitem__(self, kind: str) -> Executor:
        if kind not in self._built:
            self._built[kind] = self._factories[kind]()
        return self._built[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)


@dataclass
class UserScope:
    user_id: str
    settings: Settings
    store: Store
    index: VectorIndex
    embedder: Embedder
    files: DocumentStore | None = None  # the documents' original bytes
    contact_sources: SourceFactory | None = None  # builds a provider (Google People) from credentials
    cache: Cache | None = None  # per-user cache (query vectors, search results, the tier)
    limiter: Limiter | None = None  # usage limits; None: unmetered
    mailers: MailerFactory | None = None  # builds this user's Mailer (outbox, SMTP, Gmail)
    inboxes: InboxFactory | None = None  # builds this user's Inbox (Gmail, Maildir, mbox); None: JARVIS_INBOX=none
    calendars: CalendarFactory | None = None  # builds this user's Calendar (local, Google)
    caller: Caller | None = None  # places phone calls (dry run, ElevenLabs); shared by every user
    vault: Callable[[], Vault] | None = None  # the process's credential key (Runtime.vault), built once
    changes: ChangeBus | None = None  # where this user's state changes are told (live views); None: nowhere
    job_queue: JobQueue | None = None  # long work kept in the store (jobs/); None: everything runs inline
    wake_jobs: Callable[[], None] | None = None  # this process's job worker, told when work is queued
    sentiment_analyzer: SentimentAnalyzer | None = None  # None: the local lexicon

    def changed(self, topic: str, ref: str | None = None) -> None:
        """Tell this user's live views that `topic` (events.TOPICS) changed; never raises, never blocks."""
        publish_quietly(self.changes, self.user_id, topic, ref)

    @cached_property
    def user(self) -> UserRecord | None:
        """The user's row, read once per scope however many services need its time zone or locale."""
        return self.store.get_user(self.user_id)

    @cached_property
    def credentials(self) -> CredentialService:
        settings = self.settings
        return CredentialService(self.user_id, self.store, self.vault or (lambda: Vault.for_settings(settings)))

    @cached_property
    def account(self) -> AccountService:
        return AccountService(self.user_id, self.store, self.store, self.store)

    @cached_property
    def identities(self) -> IdentityService:
        return IdentityService(self.user_id, self.store)

    @cached_property
    def memory(self) -> MemoryService:
        user = self.user
        return MemoryService(
            self.user_id, self.store, self.index, self.embedder,
            timezone=user.timezone if user else None,
            # Unset, the embedder's own duplicate_threshold applies (memory/service.py).
            near_duplicate=self.settings.near_duplicate_threshold
            if "near_duplicate_threshold" in self.settings.model_fields_set else None,
            cache=QueryCache(self.user_id, self.cache, self.embedder, search_ttl=self.settings.search_cache_seconds,
                             embedding_ttl=self.settings.embedding_cache_seconds) if self.cache is not None else None,
        )

    @cached_property
    def usage(self) -> UsageService:
        return UsageService(self.user_id, self.store, self.account, self.settings, self.limiter, self.cache)

    @cached_property
    def documents(self) -> DocumentService:
        if self.files is None:
            raise RuntimeError("no document store configured")
        s = self.settings
        return DocumentService(self.user_id, self.store, self.files, self.embedder, memories=self.store,
                               max_document_bytes=s.max_document_bytes, max_user_bytes=s.max_user_document_bytes,
                               signed_url_seconds=s.supabase_signed_url_seconds,
                               # Handed off only where a worker runs here (a server; not the CLI import).
                               jobs=self.jobs if self.job_queue is not None and self.wake_jobs else None)

    @cached_property
    def jobs(self) -> JobService:
        if self.job_queue is None:
            raise RuntimeError("no job queue configured")
        return JobService(self.user_id, self.job_queue, bus=self.changes, wake=self.wake_jobs)

    @cached_property
    def contacts(self) -> ContactService:
        user = self.user
        region = region_from_locale(user.locale if user else None) or self.settings.phone_region
        return ContactService(self.user_id, self.store, self.embedder, self.credentials,
                              region=region, sources=self.contact_sources)

    @cached_property
    def mail(self) -> MailService:
        # Builders, not services: the mail service is made for every request's executors table, and
        # only a send needs contacts, documents or the mailer.
        s, mailers = self.settings, self.mailers
        return MailService(
            self.user_id, contacts=lambda: self.contacts, documents=lambda: self.documents,
            mailer=(lambda: mailers(self.user_id, lambda: self.credentials.load("google"))) if mailers else None,
            allowlist=s.mail_allowlist, from_address=s.smtp_from, max_attachment_bytes=s.mail_max_attachment_bytes,
            inbox=lambda: self.inbox,
            record=lambda parties, ref, summary: self.interactions.record_many(parties, "email", ref, None, summary),
        )

    @cached_property
    def inbox(self) -> InboxService:
        inboxes = self.inboxes
        return InboxService(
            self.user_id, (lambda: inboxes(self.user_id, lambda: self.credentials.load("google"))) if inboxes else None,
            contacts=lambda: self.contacts, from_address=self.settings.smtp_from,
        )

    @cached_property
    def calendar(self) -> CalendarService:
        user = self.user
        return CalendarService(self.user_id, self.calendars, self.credentials, self.contacts,
                               timezone=user.timezone if user else None,
                               send_updates=self.settings.calendar_send_updates,
                               record=lambda parties, ref, at, title: self.interactions.record_many(
                                   parties, "event", ref, at, title))

    @cached_property
    def calls(self) -> CallService:
        if self.caller is None:
            raise RuntimeError("no caller configured")
        outcomes = CallOutcomes(self.user_id, self.store, lambda: self.memory, lambda: self.interactions)
        return CallService(self.user_id, self.store, self.contacts, self.caller, outcomes)

    @cached_property
    def sentiment(self) -> SentimentService:
        user = self.user
        return SentimentService(self.user_id, self.sentiment_analyzer or LexiconAnalyzer(), self.store,
                                contacts=lambda: self.contacts, inbox=lambda: self.inbox,
                                timezone=user.timezone if user else None)

    @cached_property
    def interactions(self) -> InteractionRecorder:
        """Who took part in what: memory, mail, calendar and calls record the contacts they involve."""
        return InteractionRecorder(self.user_id, self.store)

    @cached_property
    def timeline(self) -> TimelineService:
        user = self.user
        return TimelineService(self.user_id, self.store, contacts=lambda: self.contacts,
                               inbox=(lambda: self.inbox) if self.inboxes else None,
                               timezone=user.timezone if user else None)

    @cached_property
    def voice_key(self) -> VoiceKeyService:
        return VoiceKeyService(self.user_id, self.store)

    @cached_property
    def actions(self) -> ActionService:
        return ActionService(self.user_id, self.store, self.executors(), self.voice_key,
                             always_confirm=tuple(self.settings.always_confirm), changed=self.changed)

    def executors(self) -> Mapping[str, Executor]:
        """One executor per kind of action; ActionService runs them once, after confirmation if sensitive.
        Each is built only when its kind runs, so one feature's wiring can never stop another's actions."""
        factories: dict[str, Callable[[], Executor]] = {
            "forget_memories": lambda: BulkForget(self.memory),
            "send_email": lambda: self.mail,
            "schedule_event": lambda: ScheduleEvent(self.calendar),
            "cancel_event": lambda: CancelEvent(self.calendar),
        }
        if self.caller is not None:
            factories["call_contact"] = lambda: self.calls
        return LazyExecutors(factories)

    def forget_memories(self, memory_ids: list[str]) -> ForgetResult:
        """A few ids are forgotten at once; more than BULK_FORGET wait for the user's confirmation."""
        if len(set(memory_ids)) <= BULK_FORGET:
            return self.memory.forget(memory_ids)
        request = BulkForget.request(memory_ids)
        return ForgetResult(forgotten=[], not_found=[], confirmation=self.actions.submit(request))

    def audit(self, tool: str, arguments: dict[str, object], status: str, error: str | None, duration_ms: float) -> None:
        self.store.record_action(self.user_id, tool, arguments, status, error, duration_ms)
