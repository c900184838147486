"""The composition root: settings -> adapters -> runtime. The only module that imports adapters."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from jarvis_mcp.config import ConfigError, Settings
from jarvis_mcp.ports import ContactSource, DocumentStore, Embedder, Store, VectorIndex
from jarvis_mcp.services.scope import UserScope

log = logging.getLogger(__name__)


def make_embedder(settings: Settings) -> Embedder:
    if settings.embedder == "onnx":
        from jarvis_mcp.adapters.onnx_embedder import OnnxMiniLMEmbedder

        return OnnxMiniLMEmbedder()
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
    _local_user: str | None = field(default=None, repr=False)

    def scope_for(self, user_id: str) -> UserScope:
        return UserScope(user_id, self.settings, self.store, self.index, self.embedder, files=self.documents,
                         contact_sources=self.contact_source)

    def contact_source(self, provider: str, credentials: dict[str, object]) -> ContactSource:
        return make_contact_source(provider, credentials)

    def local_user_id(self) -> str:
        if self._local_user is None:
            self._local_user = self.store.user_for_identity("local", self.settings.user, "local", None)
        return self._local_user

    def close(self) -> None:
        for part in (self.store, self.documents):
            close = getattr(part, "close", None)
            if close:
                close()


def open_runtime(settings: Settings, *, embedder: Embedder | None = None) -> Runtime:
    """Open the store and start loading the embedder in the background, so the server answers at once."""
    embedder = embedder or make_embedder(settings)
    documents = make_document_store(settings)  # first: a configuration error must not leave a store open
    start = getattr(embedder, "start_loading", None)
    if start:
        start()
    store, index, where = make_store(settings)
    try:
        store.ensure_embedding_model(embedder.model_id, embedder.dim)
    except BaseException:
        store.close()  # type: ignore[attr-defined]
        raise
    log.info("store ready at %s (embedder %s, vector index %s)", where, embedder.model_id, type(index).__name__)
    return Runtime(settings, store, index, embedder, documents=documents)


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
        pg, index = open_postgres(settings.database_url.get_secret_value(), vector_index=settings.vector_index,
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
