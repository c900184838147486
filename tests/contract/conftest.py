"""Every adapter of a port runs the same suite: `backend` is parametrized over the store adapters.

sqlite: the embedded default (sqlite-vec + numpy). postgres: the machine's PostgreSQL (no pgvector), numpy
index over bytea. pgvector: PostgreSQL 16 + pgvector from pgserver, the pgvector index. Each Postgres
backend gets its own database and app role for the module, dropped afterwards. pinecone: the SQLite store
mirrored into Pinecone (the real SDK against tests/fake_pinecone.py's data plane), Pinecone the index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
from pgtest import PgDatabase, fresh_database, pgvector_cluster, system_cluster

from jarvis_mcp.memory.ports import VectorIndex

BACKENDS = ["sqlite", "postgres", "pgvector", "pinecone"]


@dataclass
class Backend:
    name: str
    _open: Callable[[], tuple[Any, VectorIndex]]
    pg: PgDatabase | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def set_limits(self, store: Any, user_id: str, tier: str, overrides: dict[str, int]) -> None:
        """The operator's step: SQLite through the store, Postgres as the tables' owner (the app role may not)."""
        if self.pg is None:
            store.set_user_limits(user_id, tier, overrides)
            return
        import time

        import psycopg
        from psycopg import sql

        columns = [sql.Identifier(c) for c in overrides]
        with psycopg.connect(self.pg.owner_url) as conn:
            conn.execute(
                sql.SQL("INSERT INTO jarvis.user_limits (user_id, tier, updated_at{}) VALUES (%s, %s, %s{})").format(
                    sql.SQL("").join(sql.SQL(", ") + c for c in columns), sql.SQL(", %s" * len(columns))),
                (user_id, tier, time.time(), *overrides.values()),
            )

    def open(self) -> tuple[Any, VectorIndex]:
        """A new handle on the same data: a second one is what a second server process would see."""
        return self._open()


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    name = request.param
    with ExitStack() as stack:
        if name == "sqlite":
            from jarvis_mcp.adapters.sqlite import SqliteStore

            home = tmp_path_factory.mktemp("sqlite-backend")

            def open_sqlite() -> tuple[Any, VectorIndex]:
                store = SqliteStore(home / "jarvis.db")
                return store, store

            yield Backend(name, open_sqlite, settings={"home": home})
            return
        if name == "pinecone":
            from fake_pinecone import API_KEY, FakePinecone, serve

            from jarvis_mcp.adapters.mirrored_store import MirroredStore
            from jarvis_mcp.adapters.pinecone_index import PineconeIndex
            from jarvis_mcp.adapters.sqlite import SqliteStore

            home = tmp_path_factory.mktemp("pinecone-backend")
            fake = stack.enter_context(serve(FakePinecone(384)))  # the session embedder's dimension

            def open_pinecone() -> tuple[Any, VectorIndex]:
                index = PineconeIndex.connect(API_KEY, host=fake.url)
                return MirroredStore(SqliteStore(home / "jarvis.db"), index), index

            yield Backend(name, open_pinecone, settings={"home": home, "vector_index": "pinecone",
                                                         "pinecone_api_key": API_KEY, "pinecone_host": fake.url})
            return
        from jarvis_mcp.adapters.postgres import open_postgres

        cluster = system_cluster() if name == "postgres" else stack.enter_context(pgvector_cluster())
        db = stack.enter_context(fresh_database(cluster))
        index = "numpy" if name == "postgres" else "pgvector"

        def open_pg() -> tuple[Any, VectorIndex]:
            return open_postgres(db.app_url, vector_index=index, pool_size=4)

        yield Backend(name, open_pg, pg=db,
                      settings={"store": "postgres", "database_url": db.app_url, "vector_index": index})


@pytest.fixture
def open_store(backend: Backend, embedder) -> Iterator[Callable[[], tuple[Any, VectorIndex]]]:
    """`store, index = open_store()`, ready for the session's embedder; closed after the test."""
    opened: list[Any] = []

    def make() -> tuple[Any, VectorIndex]:
        store, index = backend.open()
        opened.append(store)
        store.ensure_embedding_model(embedder.model_id, embedder.dim)
        return store, index

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store_index(open_store) -> tuple[Any, VectorIndex]:
    return open_store()

