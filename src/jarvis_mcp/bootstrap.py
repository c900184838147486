"""The composition root: settings -> adapters -> runtime. The only module that imports adapters (with the
CLI's `migrate`): everything else reaches a provider through a port the Runtime holds."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from jarvis_mcp.account.ports import Limiter
from jarvis_mcp.calendar.ports import Calendar, CalendarError
from jarvis_mcp.calls.ports import Caller
from jarvis_mcp.config import ConfigError, Settings
from jarvis_mcp.contacts.ports import ContactSource
from jarvis_mcp.documents.ports import DocumentStore
from jarvis_mcp.errors import JarvisError
from jarvis_mcp.events import ChangeBus, InProcessChangeBus
from jarvis_mcp.home import secure_home
from jarvis_mcp.inbox.ports import Inbox
from jarvis_mcp.jobs.ports import JobQueue
from jarvis_mcp.mail.ports import Mailer
from jarvis_mcp.mail.service import GMAIL_CONNECT_HELP
from jarvis_mcp.memory.ports import VectorIndex
from jarvis_mcp.ports import Cache, Embedder
from jarvis_mcp.reindex import BATCH, Reindexer
from jarvis_mcp.reindex.ports import ReindexStore
from jarvis_mcp.runtime import Runtime
from jarvis_mcp.sentiment.lexicon import LexiconAnalyzer
from jarvis_mcp.sentiment.ports import SentimentAnalyzer
from jarvis_mcp.store import Store

log = logging.getLogger(__name__)


def make_embedder(settings: Settings) -> Embedder:
    if settings.embedder == "use":
        from jarvis_mcp.adapters.use_embedder import UseMultilingualEmbedder

        return UseMultilingualEmbedder()  # its threads are numpy BLAS threads, which open_runtime holds at one
    if settings.embedder in ("minilm", "onnx"):
        from jarvis_mcp.adapters.onnx_embedder import OnnxMiniLMEmbedder

        return OnnxMiniLMEmbedder(threads=settings.embedder_threads)
    if settings.embedder == "openai":
        try:
            from jarvis_mcp.adapters.openai_embedder import OpenAIEmbedder
        except ImportError:
            raise ConfigError("JARVIS_EMBEDDER=openai needs the openai package: pip install 'jarvis-mcp[hosted]'") from None
        assert settings.openai_api_key is not None  # config validation guarantees it
        try:
            return OpenAIEmbedder(settings.openai_api_key.get_secret_value(), model=settings.openai_model,
                                  dimensions=settings.openai_dimensions, base_url=settings.openai_base_url)
        except ValueError as exc:
            raise ConfigError(f"JARVIS_OPENAI_MODEL / JARVIS_OPENAI_DIMENSIONS: {exc}") from None
    raise AssertionError(f"unhandled embedder {settings.embedder}")  # config validation makes this unreachable


def make_document_store(settings: Settings) -> DocumentStore:
    if settings.document_store == "local":
        from jarvis_mcp.adapters.local_documents import LocalDocumentStore

        return LocalDocumentStore(settings.home / "documents")
    if settings.document_store == "supabase":
        try:
            from jarvis_mcp.adapters.supabase_documents import SupabaseDocumentStore
        except ImportError:
            raise ConfigError(
                "JARVIS_DOCUMENT_STORE=supabase needs the supabase package: pip install 'jarvis-mcp[supabase]'"
            ) from None
        assert settings.supabase_url and settings.supabase_key  # config validation guarantees both
        return SupabaseDocumentStore(settings.supabase_url, settings.supabase_key.get_secret_value(),
                                     settings.supabase_bucket, max_object_bytes=settings.max_document_bytes)
    raise AssertionError(f"unhandled document store {settings.document_store}")


def make_cache_and_limiter(settings: Settings) -> tuple[Cache | None, Limiter]:
    """Redis when JARVIS_REDIS_URL is set (shared by every process), else in-process."""
    if settings.redis_url is not None:
        try:
            from jarvis_mcp.adapters.redis_backend import RedisCache, RedisLimiter, connect
        except ImportError:
            raise ConfigError("JARVIS_REDIS_URL needs the redis package: pip install 'jarvis-mcp[hosted]'") from None
        client = connect(settings.redis_url.get_secret_value())
        cache = RedisCache(client, settings.redis_prefix) if settings.cache_mb > 0 else None
        return cache, RedisLimiter(client, settings.redis_prefix)
    from jarvis_mcp.adapters.local_cache import LocalCache, LocalLimiter

    return (LocalCache(settings.cache_mb << 20) if settings.cache_mb > 0 else None), LocalLimiter()


def make_change_bus(settings: Settings) -> ChangeBus:
    """Redis pub/sub when JARVIS_REDIS_URL is set (a change in one process reaches every process's
    subscribers), else in-process. Its own client: the receiver's blocking reads must not hold the cache's."""
    if settings.redis_url is not None:
        from jarvis_mcp.adapters.redis_backend import connect
        from jarvis_mcp.adapters.redis_events import RedisChangeBus

        return RedisChangeBus(connect(settings.redis_url.get_secret_value(), timeout=1.0), settings.redis_prefix)
    return InProcessChangeBus()


def mirror_to_pinecone(settings: Settings, store: Store, dim: int, queue: JobQueue | None = None) -> tuple[Store, VectorIndex]:
    """The store wrapped so its memory writes reach Pinecone, and Pinecone as the index."""
    try:
        from jarvis_mcp.adapters.mirrored_store import MirroredStore
        from jarvis_mcp.adapters.pinecone_index import PineconeIndex
    except ImportError:
        raise ConfigError("JARVIS_VECTOR_INDEX=pinecone needs the pinecone package: pip install 'jarvis-mcp[hosted]'") from None
    assert settings.pinecone_api_key is not None  # config validation guarantees it
    setting = "JARVIS_PINECONE_HOST" if settings.pinecone_host else "JARVIS_PINECONE_INDEX"
    try:
        # After `jarvis-mcp reindex` the vectors are in the namespaces it recorded (pinecone_index.model_suffix).
        index = PineconeIndex.connect(settings.pinecone_api_key.get_secret_value(), host=settings.pinecone_host,
                                      index_name=settings.pinecone_index,
                                      suffix=store.embedding_meta().get("vector_namespace", ""))
        index.check(dim)
    except JarvisError:
        raise
    except Exception as exc:
        raise ConfigError(f"{setting}: cannot use the Pinecone index "
                          f"{settings.pinecone_host or settings.pinecone_index!r}: {exc}") from None
    return MirroredStore(store, index, queue=queue), index


def make_mailer(settings: Settings, user_id: str, google_credentials: Callable[[], dict[str, object] | None]) -> Mailer:
    """One user's Mailer. Gmail sends as the user, with the Google account they connected."""
    if settings.mailer == "outbox":
        from jarvis_mcp.adapters.mail_outbox import OutboxMailer

        return OutboxMailer(settings.home, user_id)
    if settings.mailer == "smtp":
        from jarvis_mcp.adapters.mail_smtp import SmtpMailer

        assert settings.smtp_host is not None  # config validation guarantees it
        return SmtpMailer(settings.smtp_host, port=settings.smtp_port, security=settings.smtp_security,
                          user=settings.smtp_user, timeout=settings.smtp_timeout_seconds,
                          password=settings.smtp_password.get_secret_value() if settings.smtp_password else None)
    if settings.mailer == "gmail":
        from jarvis_mcp.adapters.mail_gmail import GmailMailer

        info = google_credentials()
        if info is None:
            raise JarvisError(GMAIL_CONNECT_HELP)
        return GmailMailer.from_authorized_user_info(info)
    raise AssertionError(f"unhandled mailer {settings.mailer}")  # config validation makes this unreachable


def make_inbox(settings: Settings, user_id: str, google_credentials: Callable[[], dict[str, object] | None],
               local_user: Callable[[], str]) -> Inbox:
    """One user's received mail (JARVIS_INBOX). A local folder without {user} in its path is the local user's
    own: on a server shared by several people it is nobody else's."""
    kind, _, where = settings.inbox.partition(":")
    if kind == "gmail":
        from jarvis_mcp.adapters.inbox_gmail import GmailInbox

        info = google_credentials()
        if info is None:
            raise JarvisError(GMAIL_CONNECT_HELP.replace("JARVIS_MAILER=outbox or smtp", "JARVIS_INBOX to a mail folder"))
        return GmailInbox.from_authorized_user_info(info)
    if kind in ("maildir", "mbox"):
        from jarvis_mcp.adapters.inbox_maildir import MaildirInbox, MboxInbox

        if "{user}" in where:
            where = where.replace("{user}", user_id)
        elif user_id != local_user():
            raise JarvisError("this server's mail folder (JARVIS_INBOX) is its local user's; no inbox is set up for you")
        path = Path(where).expanduser()
        return MaildirInbox(path) if kind == "maildir" else MboxInbox(path)
    raise AssertionError(f"unhandled inbox {settings.inbox}")  # config validation makes this unreachable


def make_calendar(settings: Settings, store: Store, user_id: str,
                  google_credentials: Callable[[], dict[str, object] | None]) -> Calendar:
    """One user's calendar: events in the store, or their Google Calendar (the Google account they connected)."""
    if settings.calendar == "local":
        from jarvis_mcp.adapters.local_calendar import LocalCalendar

        return LocalCalendar(store, user_id)
    if settings.calendar == "google":
        from jarvis_mcp.adapters.google_calendar import GoogleCalendar

        info = google_credentials()
        if info is None:
            raise CalendarError("no Google account is connected", auth=True)
        return GoogleCalendar.from_authorized_user_info(info, calendar_id=settings.google_calendar_id,
                                                        send_updates=settings.calendar_send_updates)
    raise AssertionError(f"unhandled calendar {settings.calendar}")  # config validation makes this unreachable


def make_caller(settings: Settings) -> Caller:
    """The process's Caller: the dry run (records, places nothing) or ElevenLabs voice agents."""
    if settings.caller == "dry_run":
        from jarvis_mcp.adapters.caller_dry_run import DryRunCaller

        return DryRunCaller()
    if settings.caller == "elevenlabs":
        try:
            from jarvis_mcp.adapters.caller_elevenlabs import ElevenLabsCaller
        except ImportError:
            raise ConfigError("JARVIS_CALLER=elevenlabs needs the elevenlabs package: "
                              "pip install 'jarvis-mcp[elevenlabs]'") from None
        assert settings.elevenlabs_api_key and settings.elevenlabs_phone_number_id  # config validation
        return ElevenLabsCaller(settings.elevenlabs_api_key.get_secret_value(), settings.elevenlabs_phone_number_id,
                                voice_id=settings.elevenlabs_voice_id, agent_id=settings.elevenlabs_agent_id)
    raise AssertionError(f"unhandled caller {settings.caller}")  # config validation makes this unreachable


def make_contact_source(provider: str, credentials: dict[str, object]) -> ContactSource:
    """A provider of one user's contacts, from that user's decrypted credentials."""
    if provider == "google":
        from jarvis_mcp.adapters.google_people import GooglePeopleSource

        return GooglePeopleSource.from_authorized_user_info(credentials)
    raise ValueError(f"unknown contact provider {provider!r}")


def google_consent(client_secrets: Path, *, issuer: str = "https://accounts.google.com") -> dict[str, object]:
    """Google's installed-app consent from a terminal (a browser here, or the address printed and the answer
    pasted back); the authorized-user info to store. ValueError / ProofError when it cannot finish."""
    from jarvis_mcp.identity.google_loopback import connect_from_terminal

    return connect_from_terminal(client_secrets, issuer=issuer)


def open_runtime(settings: Settings, *, embedder: Embedder | None = None) -> Runtime:
    """Open the store and start loading the embedder in the background, so the server answers at once."""
    # One BLAS thread: a per-user vector scan is one matrix-vector product, and onnxruntime's threads spin
    # on the cores right after embedding the query; a second BLAS thread only fights them (measured here:
    # the 10k scan took 4.3 ms inside a search with two threads, 0.25 ms with one).
    threadpool_limits(1, user_api="blas")
    # Before anything writes there; created only when this server keeps data in it.
    secure_home(settings.home, create=settings.store == "sqlite" or settings.document_store == "local")
    embedder = embedder or make_embedder(settings)
    documents = make_document_store(settings)  # first: a configuration error must not leave a store open
    cache, limiter = make_cache_and_limiter(settings)  # before the store too: Redis may be unreachable
    caller = make_caller(settings)
    changes = make_change_bus(settings)
    start = getattr(embedder, "start_loading", None)
    if start:
        start()
    store, index, where = make_store(settings)
    try:
        store.ensure_embedding_model(embedder.model_id, embedder.dim)
        jobs = make_job_queue(settings, store)  # the Pinecone mirror's retries go through it too
        if settings.vector_index == "pinecone":
            store, index = mirror_to_pinecone(settings, store, embedder.dim, jobs)
    except BaseException:
        store.close()
        close_changes = getattr(changes, "close", None)
        if close_changes:
            close_changes()
        raise
    log.info("store ready at %s (embedder %s, vector index %s)", where, embedder.model_id, type(index).__name__)

    # Each factory looks its maker up when called, not here: the maker is the one seam a provider (or a
    # test's fake) is swapped at, even for a runtime already open.
    def mailers(user_id: str, google_credentials: Callable[[], dict[str, object] | None]) -> Mailer:
        return make_mailer(settings, user_id, google_credentials)

    def calendars(user_id: str, google_credentials: Callable[[], dict[str, object] | None]) -> Calendar:
        return make_calendar(settings, store, user_id, google_credentials)

    def contact_sources(provider: str, credentials: dict[str, object]) -> ContactSource:
        return make_contact_source(provider, credentials)

    runtime = Runtime(settings, store, index, embedder, documents=documents, cache=cache, limiter=limiter,
                      caller=caller, mailers=mailers, calendars=calendars, contact_sources=contact_sources,
                      changes=changes, jobs=jobs)

    def inboxes(user_id: str, google_credentials: Callable[[], dict[str, object] | None]) -> Inbox:
        return make_inbox(settings, user_id, google_credentials, runtime.local_user_id)

    runtime.inboxes = inboxes if settings.inbox != "none" else None
    runtime.sentiment = make_sentiment(settings)
    return runtime


def make_sentiment(settings: Settings) -> SentimentAnalyzer:
    """The process's sentiment analyzer: the local lexicon, or OpenAI chat (JSON mode) when configured."""
    if settings.sentiment == "openai":
        try:
            from jarvis_mcp.adapters.openai_sentiment import OpenAISentiment
        except ImportError:
            raise ConfigError("JARVIS_SENTIMENT=openai needs the openai package: pip install 'jarvis-mcp[hosted]'") from None
        assert settings.openai_api_key is not None  # config validation guarantees it
        return OpenAISentiment(settings.openai_api_key.get_secret_value(), model=settings.openai_sentiment_model,
                               base_url=settings.openai_base_url)
    return LexiconAnalyzer()


def make_openai_client(settings: Settings, *, http_client: Any = None) -> Any:  # noqa: ANN401 - optional SDK
    """The OpenAI SDK client for `export conversations --upload` (tests pass an httpx.MockTransport client)."""
    if settings.openai_api_key is None:
        raise ConfigError("--upload needs an OpenAI key: set JARVIS_OPENAI_API_KEY")
    try:
        import openai
    except ImportError:
        raise ConfigError("--upload needs the openai package: pip install 'jarvis-mcp[hosted]'") from None
    return openai.OpenAI(api_key=settings.openai_api_key.get_secret_value(), base_url=settings.openai_base_url,
                         http_client=http_client)


def make_job_queue(settings: Settings, store: Store) -> JobQueue:
    """Long work kept in the store itself, so every server process on it shares one queue."""
    db = store.db  # type: ignore[attr-defined]  # SqliteStore / PostgresStore (MirroredStore passes it on)
    if settings.store == "postgres":
        from jarvis_mcp.adapters.postgres.jobs import PostgresJobQueue

        return PostgresJobQueue(db)
    from jarvis_mcp.adapters.sqlite.jobs import SqliteJobQueue

    return SqliteJobQueue(db)


def make_store(settings: Settings) -> tuple[Store, VectorIndex, str]:
    """(store, vector index, where it is, for logs). ConfigError when the store cannot serve."""
    if settings.store == "sqlite":
        from jarvis_mcp.adapters.sqlite import SqliteStore

        store = SqliteStore(settings.database_path, vector_cache_bytes=settings.vector_cache_mb << 20)
        return store, store, str(settings.database_path)
    if settings.store == "postgres":
        try:
            from jarvis_mcp.adapters.postgres import open_postgres
        except ImportError:
            raise ConfigError("JARVIS_STORE=postgres needs psycopg: pip install 'jarvis-mcp[postgres]'") from None
        assert settings.database_url is not None  # config validation guarantees it
        # With Pinecone the store's own index goes unused: numpy is the one that costs nothing idle.
        own_index = "numpy" if settings.vector_index == "pinecone" else settings.vector_index
        pg, index = open_postgres(settings.database_url.get_secret_value(), vector_index=own_index,
                                  pool_size=settings.database_pool_size,
                                  vector_cache_bytes=settings.vector_cache_mb << 20)
        return pg, index, pg.db.where
    raise AssertionError(f"unhandled store {settings.store}")  # config validation makes this unreachable


def open_reindex(settings: Settings, *, embedder: Embedder | None = None, database_url: str | None = None,
                 batch: int = BATCH) -> Reindexer:
    """`jarvis-mcp reindex`: the store (Postgres: as the tables' owner, `database_url`), the configured
    embedder, the documents' originals (passages are embedded as add_document did) and, with Pinecone,
    the namespaces of the new model. ConfigError when one cannot be used."""
    embedder = embedder or make_embedder(settings)
    files = make_document_store(settings)
    sink, record = None, {}
    if settings.vector_index == "pinecone":
        try:
            from jarvis_mcp.adapters.pinecone_index import PineconeIndex, model_suffix
        except ImportError:
            raise ConfigError("JARVIS_VECTOR_INDEX=pinecone needs the pinecone package: pip install 'jarvis-mcp[hosted]'") from None
        assert settings.pinecone_api_key is not None  # config validation guarantees it
        suffix = model_suffix(embedder.model_id, embedder.dim)
        sink = PineconeIndex.connect(settings.pinecone_api_key.get_secret_value(), host=settings.pinecone_host,
                                     index_name=settings.pinecone_index, suffix=suffix)
        sink.check(embedder.dim)  # a new dimension needs a new index: JARVIS_PINECONE_INDEX names it
        record = {"vector_namespace": suffix}
    store: ReindexStore
    if settings.store == "sqlite":
        from jarvis_mcp.adapters.sqlite import SqliteStore

        store = SqliteStore(settings.database_path)
    else:
        url = database_url or (settings.database_url.get_secret_value() if settings.database_url else None)
        if not url:
            raise ConfigError("reindex needs --database-url or JARVIS_DATABASE_URL (the tables' owner)")
        try:
            from jarvis_mcp.adapters.postgres.reindex import PostgresReindex
        except ImportError:
            raise ConfigError("JARVIS_STORE=postgres needs psycopg: pip install 'jarvis-mcp[postgres]'") from None
        store = PostgresReindex(url)
    return Reindexer(store, embedder, files=files, sink=sink, record=record, batch=batch)
