"""The composition root: settings -> adapters -> runtime. The only module that imports adapters."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from jarvis_mcp.config import Settings
from jarvis_mcp.ports import Embedder, Store, VectorIndex
from jarvis_mcp.services.scope import UserScope

log = logging.getLogger(__name__)


def make_embedder(settings: Settings) -> Embedder:
    if settings.embedder == "onnx":
        from jarvis_mcp.adapters.onnx_embedder import OnnxMiniLMEmbedder

        return OnnxMiniLMEmbedder()
    raise AssertionError(f"unhandled embedder {settings.embedder}")  # config validation makes this unreachable


@dataclass
class Runtime:
    settings: Settings
    store: Store
    index: VectorIndex
    embedder: Embedder
    _local_user: str | None = field(default=None, repr=False)

    def scope_for(self, user_id: str) -> UserScope:
        return UserScope(user_id, self.settings, self.store, self.index, self.embedder)

    def local_user_id(self) -> str:
        if self._local_user is None:
            self._local_user = self.store.user_for_identity("local", self.settings.user, "local", None)
        return self._local_user

    def close(self) -> None:
        close = getattr(self.store, "close", None)
        if close:
            close()


def open_runtime(settings: Settings, *, embedder: Embedder | None = None) -> Runtime:
    """Open the store and start loading the embedder in the background, so the server answers at once."""
    embedder = embedder or make_embedder(settings)
    start = getattr(embedder, "start_loading", None)
    if start:
        start()
    if settings.store == "sqlite":
        from jarvis_mcp.adapters.sqlite import SqliteStore

        store = SqliteStore(settings.database_path, vector_cache_bytes=settings.vector_cache_mb << 20)
        index: VectorIndex = store
    else:  # pragma: no cover - config validation makes this unreachable
        raise AssertionError(f"unhandled store {settings.store}")
    store.ensure_embedding_model(embedder.model_id, embedder.dim)
    log.info("store ready at %s (embedder %s)", settings.database_path, embedder.model_id)
    return Runtime(settings, store, index, embedder)


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
