"""Stemmed keyword search end to end: the keyword form itself, stores written before it (migration 0011
rebuilds their index, SQLite on open and Postgres in `jarvis-mcp migrate`), and search_memory through the
MCP client in Spanish and English."""

from __future__ import annotations

from pathlib import Path

import psycopg
from pgtest import fresh_database, system_cluster

from jarvis_mcp.adapters.postgres import migrate, open_postgres
from jarvis_mcp.adapters.sqlite import SqliteStore
from jarvis_mcp.memory import keywords
from jarvis_mcp.memory.ports import MemoryFilter, NewMemory
from jarvis_mcp.text import content_hash, fold


def test_the_keyword_form() -> None:
    assert set(keywords.term_stems("revisiones")) & keywords.stem_set("la revisión")
    assert set(keywords.term_stems("coches")) & keywords.stem_set("el coche")
    assert set(keywords.term_stems("running")) & keywords.stem_set("I run")
    assert keywords.stem_set("Canción") == keywords.stem_set("cancion")  # accents either way
    assert not set(keywords.term_stems("futbol")) & keywords.stem_set("revisar el coche")
    assert keywords.term_stems("42") == ("42",) and keywords.term_stems("???") == ()


def _old_sqlite_store(path: Path, embedder) -> tuple[str, int]:  # noqa: ANN001
    """A store as written before 0011: folded words in memories_fts, the old layout mark, 0011 not applied."""
    store = SqliteStore(path)
    store.ensure_embedding_model(embedder.model_id, embedder.dim)
    user = store.user_for_identity("https://idp.test", "alice", "local", None)
    text = "Las revisiones del coche son en marzo"
    seq = store.insert_memories(user, [NewMemory("note", text, content_hash(fold(text)))], embedder.embed([text]))[0].seq
    conn = store.db.conn
    owner = "u" + user.replace("-", "")
    conn.execute("INSERT INTO memories_fts (memories_fts) VALUES ('delete-all')")
    conn.execute("INSERT INTO memories_fts (rowid, owner, text) VALUES (?, NULL, ?)",
                 (seq, " ".join(owner + w for w in fold(text).split())))
    conn.execute("UPDATE meta SET value = 'owner-prefixed-terms' WHERE key = 'fts_layout'")
    conn.execute("DELETE FROM schema_migrations WHERE version = 11")
    assert store.keyword_search(user, ["revisión"], MemoryFilter(), 5) == []  # the old index: no stems
    store.close()
    return user, seq


def test_sqlite_store_written_before_stems_is_rebuilt_on_open(tmp_path: Path, embedder) -> None:
    user, seq = _old_sqlite_store(tmp_path / "jarvis.db", embedder)
    store = SqliteStore(tmp_path / "jarvis.db")
    try:
        assert store.keyword_search(user, ["revisión"], MemoryFilter(), 5) == [seq]
        assert store.keyword_search(user, ["coches"], MemoryFilter(), 5) == [seq]
        applied = {r[0] for r in store.db.conn.execute("SELECT version FROM schema_migrations")}
        assert 11 in applied
    finally:
        store.close()


def test_postgres_rows_written_before_stems_are_rebuilt_by_migrate(embedder) -> None:
    with fresh_database(system_cluster()) as db:
        store, _ = open_postgres(db.app_url, vector_index="numpy", pool_size=2)
        try:
            store.ensure_embedding_model(embedder.model_id, embedder.dim)
            user = store.user_for_identity("https://idp.test", "alice", "local", None)
            text = "Las revisiones del coche son en marzo"
            seq = store.insert_memories(user, [NewMemory("note", text, content_hash(fold(text)))],
                                        embedder.embed([text]))[0].seq
            with psycopg.connect(db.owner_url) as conn:  # as before 0011: folded words, form 0
                conn.execute("UPDATE jarvis.memories SET tsv = to_tsvector('simple', %s), keyword_form = 0", (fold(text),))
            assert store.keyword_search(user, ["revisión"], MemoryFilter(), 5) == []
            report = migrate(db.owner_url, app_role=db.app_role)
            assert report.keywords_rebuilt == 1
            assert store.keyword_search(user, ["revisión"], MemoryFilter(), 5) == [seq]
            assert migrate(db.owner_url, app_role=db.app_role).keywords_rebuilt == 0  # done once
        finally:
            store.close()


async def test_search_memory_matches_word_forms_in_both_languages(client_for) -> None:
    from test_memory_tools import remember, search

    async with client_for("alice") as c:
        car = (await remember(c, "La revisión del coche es el 14 de marzo"))["memory"]["id"]
        run = (await remember(c, "I run along the river every morning"))["memory"]["id"]
        await remember(c, "El partido de fútbol es el domingo")
        for query, wanted in [("revisiones coches", car), ("revision", car), ("running", run)]:
            out = await search(c, query, top_k=3)
            assert out["hits"][0]["id"] == wanted, query
            assert out["hits"][0]["keyword_rank"] == 1
