"""SqliteStore: the embedding-model guard, identities, and per-user isolation of every retriever."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from jarvis_mcp.adapters.sqlite import SqliteStore
from jarvis_mcp.adapters.sqlite import store as store_module
from jarvis_mcp.bootstrap import open_runtime
from jarvis_mcp.config import Settings
from jarvis_mcp.errors import StoreMismatch
from jarvis_mcp.memory.ports import MemoryFilter, NewMemory
from jarvis_mcp.text import content_hash, fold


@pytest.fixture
def store(tmp_path: Path, embedder) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "jarvis.db")
    s.ensure_embedding_model(embedder.model_id, embedder.dim)
    yield s
    s.close()


def add(store: SqliteStore, embedder, user: str, text: str, kind: str = "note", tags: tuple[str, ...] = (),
        occurred_at: float | None = None) -> int:
    item = NewMemory(kind=kind, text=text, content_hash=content_hash(fold(text)), tags=tags, occurred_at=occurred_at)
    return store.insert_memories(user, [item], embedder.embed([text]))[0].seq


# -- the embedding model guard --------------------------------------------------------------------


def test_another_embedding_model_is_refused(store: SqliteStore, tmp_path: Path, embedder) -> None:
    other = SqliteStore(tmp_path / "jarvis.db")
    try:
        with pytest.raises(StoreMismatch) as wrong_model:
            other.ensure_embedding_model("text-embedding-3-small", embedder.dim)
        message = str(wrong_model.value)
        assert embedder.model_id in message and "text-embedding-3-small" in message
        assert "use the original embedder or a new JARVIS_HOME" in message
        with pytest.raises(StoreMismatch, match=f"dimension {embedder.dim}.*dimension 768"):
            other.ensure_embedding_model(embedder.model_id, 768)
        other.ensure_embedding_model(embedder.model_id, embedder.dim)  # the same one is fine, again
    finally:
        other.close()


def test_open_runtime_refuses_a_store_made_by_another_model(tmp_path: Path, embedder) -> None:
    settings = Settings(home=tmp_path)
    open_runtime(settings, embedder=embedder).close()

    class Other:
        model_id, dim = "other-model", 8

        def embed(self, texts):  # noqa: ANN001, ANN202 - never called
            raise AssertionError

    with pytest.raises(StoreMismatch, match="other-model"):
        open_runtime(settings, embedder=Other())


def test_migrations_run_once(tmp_path: Path, store: SqliteStore) -> None:
    again = SqliteStore(tmp_path / "jarvis.db")
    try:
        rows = again.db.conn.execute("SELECT version FROM schema_migrations").fetchall()
        assert len(rows) == len({r[0] for r in rows}) >= 1
    finally:
        again.close()


# -- identities -----------------------------------------------------------------------------------


def test_user_for_identity_creates_then_stays_stable(store: SqliteStore, monkeypatch) -> None:
    alice = store.user_for_identity("https://idp", "alice-sub", "google", None)
    assert store.get_user(alice) is not None
    assert store.user_for_identity("https://idp", "alice-sub", "google", None) == alice
    monkeypatch.setattr(store_module, "_LAST_SEEN_EVERY", 0.0)  # take the slow path that refreshes last_seen
    assert store.user_for_identity("https://idp", "alice-sub", "google", None) == alice
    # The same subject at another issuer is another person.
    assert store.user_for_identity("https://other-idp", "alice-sub", "google", None) != alice


def test_same_verified_email_links_a_new_identity(store: SqliteStore) -> None:
    alice = store.user_for_identity("https://accounts.google.com", "g-1", "google", "Alice@Example.com")
    via_email = store.user_for_identity("https://magic.link", "m-9", "email", "alice@example.com")
    assert via_email == alice
    stranger = store.user_for_identity("https://magic.link", "m-10", "email", "mallory@example.com")
    no_email = store.user_for_identity("0x-wallet", "0xabc", "wallet", None)
    assert len({alice, stranger, no_email}) == 3
    # A later identity without an email is never linked to the others by accident.
    assert store.user_for_identity("telegram", "t-1", "telegram", None) not in {alice, stranger, no_email}


# -- isolation inside the store -------------------------------------------------------------------


def test_vector_search_of_a_user_without_memories(store: SqliteStore, embedder) -> None:
    alice = store.user_for_identity("local", "alice", "local", None)
    add(store, embedder, alice, "something of Alice's")
    bob = store.user_for_identity("local", "bob", "local", None)
    vector = embedder.embed(["something"])[0]
    assert store.search(bob, vector, MemoryFilter(), 10) == []
    assert store.search("no-such-user", vector, MemoryFilter(), 10) == []
    assert store.search(bob, np.zeros(embedder.dim, np.float32), MemoryFilter(kinds=("note",)), 10) == []


def test_vectors_read_from_sqlite_vec_chunks_match_the_public_path(tmp_path) -> None:
    """The fast matrix load reads vec0's chunk tables; it must see exactly what vec0 itself returns,
    deletions across chunk boundaries included, and nothing of another user's partition."""
    import hashlib

    import numpy as np

    from jarvis_mcp.adapters.sqlite import SqliteStore
    from jarvis_mcp.memory.ports import NewMemory

    store = SqliteStore(tmp_path / "j.db")
    store.ensure_embedding_model("m", 8)
    a = store.user_for_identity("local", "a", "local", None)
    b = store.user_for_identity("local", "b", "local", None)
    rng = np.random.default_rng(1)

    def items(n: int, tag: str) -> list[NewMemory]:
        return [NewMemory(kind="note", text=f"{tag} {i}", content_hash=hashlib.sha256(f"{tag}{i}".encode()).hexdigest())
                for i in range(n)]

    stored = store.insert_memories(a, items(150, "a"), rng.standard_normal((150, 8)).astype(np.float32))
    store.insert_memories(b, items(70, "b"), rng.standard_normal((70, 8)).astype(np.float32))
    store.delete_memories(a, [r.id for r in stored[10:80:3]])
    conn = store.db.conn
    ids, vectors = store._user_vectors(conn, a)
    rows = conn.execute("SELECT rowid, embedding FROM memories_vec WHERE user_id = ?", (a,)).fetchall()
    public_ids = np.array([r[0] for r in rows])
    public = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(-1, 8)
    mine, theirs = np.argsort(ids), np.argsort(public_ids)
    assert len(ids) == 150 - len(stored[10:80:3])
    assert np.array_equal(ids[mine], public_ids[theirs]) and np.array_equal(vectors[mine], public[theirs])
    store.close()
