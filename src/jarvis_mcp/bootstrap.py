"""The composition root: settings -> adapters -> runtime. The only module that imports adapters."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from jarvis_mcp.config import ConfigError, Settings
from jarvis_mcp.errors import JarvisError
from jarvis_mcp.ports import Cache, ContactSource, DocumentStore, Embedder, Limiter, Store, VectorIndex
from jarvis_mcp.services.scope import UserScope

log = logging.getLogger(__name__)


def make_embedder(settings: Settings) -> Embedder:
    if settings.embedder == "onnx":
        from jarvis_mcp.adapters.onnx_embedder import OnnxMiniLMEmbedder

        return OnnxMiniLMEmbedder()
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


def mirror_to_pinecone(settings: Settings, store: Store, dim: int) -> tuple[Store, VectorIndex]:
    """The store wrapped so its memory writes reach Pinecone, and Pinecone as the index."""
    try:
        from jarvis_mcp.adapters.mirrored_store import MirroredStore
        from jarvis_mcp.adapters.pinecone_index import PineconeIndex
    except ImportError:
        raise ConfigError("JARVIS_VECTOR_INDEX=pinecone needs the pinecone package: pip install 'jarvis-mcp[hosted]'") from None
    assert settings.pinecone_api_key is not None  # config validation guarantees it
    setting = "JARVIS_PINECONE_HOST" if settings.pinecone_host else "JARVIS_PINECONE_INDEX"
    try:
        index = PineconeIndex.connect(settings.pinecone_api_key.get_secret_value(), host=settings.pinecone_host,
                                      index_name=settings.pinecone_index)
        index.check(dim)
    except JarvisError:
        raise
    except Exception as exc:
        raise ConfigError(f"{setting}: cannot use the Pinecone index "
                          f"{settings.pinecone_host or settings.pinecone_index!r}: {exc}") from None
    return MirroredStore(store, index), index  # type: ignore[return-value]


def make_contact_source(provider: str, credentials: dict[str, object]) -> ContactSource:
    """A provider of one user's contacts, from that user's decrypted credentials."""
    if provider == "google":
        from jarvis_mcp.adapters.google_people import GooglePeopleSource

        return GooglePeopleSource.from_authorized_user_info(credentials)
    raise ValueError(f"unknown contact provider {provider!r}")


def google_consent(client_secrets: Path) -> dict[str, object]:
    """Run Google's installed-app OAuth consent in a browser; the authorized-user info to store."""
    from jarvis_mcp.adapters.google_people import run_consent

    return run_consent(client_secrets)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    index: VectorIndex
    embedder: Embedder
    documents: DocumentStore | None = None
    cache: Cache | None = None
    limiter: Limiter | None = None
    _local_user: str | None = field(default=None, repr=False)

    def scope_for(self, user_id: str) -> UserScope:
        return UserScope(user_id, self.settings, self.store, self.index, self.embedder, files=self.documents,
                         contact_sources=self.contact_source, cache=self.cache, limiter=self.limiter)

    def contact_source(self, provider: str, credentials: dict[str, object]) -> ContactSource:
        return make_contact_source(provider, credentials)

    def local_user_id(self) -> str:
        if self._local_user is None:
            self._local_user = self.store.user_for_identity("local", self.settings.user, "local", None)
        return self._local_user

    def close(self) -> None:
        for part in (self.store, self.documents, self.cache):
            close = getattr(part, "close", None)
            if close:
                close()


def open_runtime(settings: Settings, *, embedder: Embedder | None = None) -> Runtime:
    """Open the store and start loading the embedder in the background, so the server answers at once."""
    embedder = embedder or make_embedder(settings)
    documents = make_document_store(settings)  # first: a configuration error must not leave a store open
    cache, limiter = make_cache_and_limiter(settings)  # before the store too: Redis may be unreachable
    start = getattr(embedder, "start_loading", None)
    if start:
        start()
    store, index, where = make_store(settings)
    try:
        store.ensure_embedding_model(embedder.model_id, embedder.dim)
        if settings.vector_index == "pinecone":
            store, index = mirror_to_pinecone(settings, store, embedder.dim)
    except BaseException:
        store.close()  # type: ignore[attr-defined]
        raise
    log.info("store ready at %s (embedder %s, vector index %s)", where, embedder.model_id, type(index).__name__)
    return Runtime(settings, store, index, embedder, documents=documents, cache=cache, limiter=limiter)


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


class SharedRuntime:
    """One runtime per process however many sessions enter the server's lifespan.

    Streamable HTTP enters the lifespan once, but every legacy SSE connection and every in-process client
    enters it again; they must share the open store and the loaded model instead of opening their own.
    """

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._runtime: Runtime | None = None
        self._users = 0
        self._lock = threading.Lock()

    def acquire(self) -> Runtime:
        with self._lock:
            if self._runtime is None:
                self._runtime = open_runtime(self.settings, embedder=self._embedder)
            self._users += 1
            return self._runtime

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._runtime is not None:
                self._runtime.close()
                self._runtime = None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the server is not running (no lifespan entered)")
        return self._runtime
