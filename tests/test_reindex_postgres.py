"""`jarvis-mcp reindex` on PostgreSQL (the numpy index over bytea vectors) and pgvector: model A to model B
(another dimension) while a server on A keeps answering and writing; a crash mid-way resumes; two users
stay apart; the switch is one transaction; A is refused afterwards, naming the command. Each test has its
own database (tests/pgtest.py); the reindex connects as the tables' owner, the servers as the app role.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pgtest import PgDatabase, fresh_database, pgvector_cluster, system_cluster
from reindex_support import Crashing, FakeEmbedder, model_a, model_b
from servers import run_cli

from jarvis_mcp.adapters.postgres import PgVectorIndex
from jarvis_mcp.bootstrap import open_reindex, open_runtime
from jarvis_mcp.config import Settings
from jarvis_mcp.errors import StoreMismatch
from jarvis_mcp.memory.ports import MemoryFilter
from jarvis_mcp.runtime import Runtime


@pytest.fixture
def pgdb() -> Iterator[PgDatabase]:
    with fresh_database(system_cluster()) as db:
        yield db


def settings(home: Path, db: PgDatabase, user: str = "alice", index: str = "numpy") -> Settings:
    return Settings(home=home, user=user, store="postgres", database_url=db.app_url, vector_index=index)  # type: ignore[arg-type]


def opened(home: Path, db: PgDatabase, embedder: FakeEmbedder, user: str = "alice",
           index: str = "numpy") -> tuple[Runtime, str]:
    rt = open_runtime(settings(home, db, user, index), embedder=embedder)
    return rt, rt.local_user_id()


def nearest(rt: Runtime, user: str, embedder: FakeEmbedder, query: str, k: int = 3) -> list[str]:
    seqs = [s for s, _ in rt.index.search(user, embedder.embed([query])[0], MemoryFilter(kinds=("note",)), k)]
    texts = {r.seq: r.text for r in rt.store.memories_by_seq(user, seqs)}
    return [texts[s] for s in seqs]


def fill(home: Path, db: PgDatabase, user: str, texts: list[str], index: str = "numpy") -> None:
    rt, uid = opened(home, db, model_a(), user, index)
    try:
        for t in texts:
            rt.scope_for(uid).memory.remember(t)
        rt.scope_for(uid).contacts.save(name=f"Vet of {user}", notes="veterinario del perro")
    finally:
        rt.close()


def run(home: Path, db: PgDatabase, embedder: FakeEmbedder, batch: int = 2):  # noqa: ANN201
    r = open_reindex(settings(home, db), embedder=embedder, database_url=db.owner_url, batch=batch)
    try:
        return r.run()
    finally:
        r.close()


def test_postgres_moves_to_b_while_a_server_answers_and_writes(tmp_path: Path, pgdb: PgDatabase) -> None:
    fill(tmp_path, pgdb, "alice", ["Hay que revisar el coche en marzo", "Alice: el pasaporte está en el cajón",
                                   "recuerdo uno", "recuerdo dos", "recuerdo tres"])
    fill(tmp_path, pgdb, "bob", ["Bob: el pasaporte está en la mochila", "Bob va al dentista el martes"])
    server, alice = opened(tmp_path, pgdb, model_a())
    memory = server.scope_for(alice).memory
    doomed = memory.search("recuerdo dos", top_k=1).hits[0].id
    written: list[str] = []

    def meanwhile(call: int) -> None:
        if call == 2:  # one batch saved: A's server searches its own vectors and writes with them
            assert [h.text for h in memory.search("recuerdo tres", top_k=1).hits] == ["recuerdo tres"]
            written.append(memory.remember("Las llaves del coche están en la entrada").memory.id)
            assert memory.forget([doomed]).forgotten == [doomed]

    report = run(tmp_path, pgdb, Crashing(after=None, hook=meanwhile))
    assert report.switched and written and report.previous == "fake-a"
    moved = "was moved to fake-b \\(dimension 128\\) by `jarvis-mcp reindex` while this server ran on fake-a"
    with pytest.raises(StoreMismatch, match=moved):
        memory.search("recuerdo tres", top_k=1)  # the switch moved every version: its cache is stale
    with pytest.raises(StoreMismatch, match=moved):
        memory.remember("escrito con el modelo viejo")
    server.close()
    with pytest.raises(StoreMismatch, match="fake-b \\(dimension 128\\).*run `jarvis-mcp reindex`"):
        open_runtime(settings(tmp_path, pgdb), embedder=model_a())

    b = model_b()
    rt, alice = opened(tmp_path, pgdb, b)
    try:
        assert nearest(rt, alice, b, "car service", 1) == ["Hay que revisar el coche en marzo"]
        assert nearest(rt, alice, b, "keys", 1) == ["Las llaves del coche están en la entrada"]
        mine = nearest(rt, alice, b, "passport", 20)
        assert "recuerdo dos" not in mine and len(mine) == rt.store.count_memories(alice) == 5
        assert not any(t.startswith("Bob") for t in mine)
        (vet,) = rt.store.nearest_contacts(alice, b.embed(["veterinario del perro"])[0], None, 5)
        assert vet[0].name == "Vet of alice" and vet[1] == pytest.approx(1.0, abs=1e-5)
    finally:
        rt.close()
    rt, bob = opened(tmp_path, pgdb, b, "bob")
    try:
        assert nearest(rt, bob, b, "dentist", 1) == ["Bob va al dentista el martes"]
        assert sorted(nearest(rt, bob, b, "passport", 20)) == ["Bob va al dentista el martes",
                                                               "Bob: el pasaporte está en la mochila"]
    finally:
        rt.close()
    with psycopg.connect(pgdb.owner_url) as conn:  # nothing left behind in the side tables
        assert conn.execute("SELECT (SELECT count(*) FROM jarvis.reindex_memories) + "
                            "(SELECT count(*) FROM jarvis.reindex_contacts)").fetchone()[0] == 0


def test_postgres_crash_then_resume(tmp_path: Path, pgdb: PgDatabase) -> None:
    texts = [f"nota {i} sobre el coche" for i in range(20)]
    fill(tmp_path, pgdb, "alice", texts)
    crashing = Crashing(after=2)
    with pytest.raises(RuntimeError, match="injected crash"):
        run(tmp_path, pgdb, crashing, batch=5)
    rt, _ = opened(tmp_path, pgdb, model_a())  # nothing switched: A still opens
    rt.close()
    resumed = model_b()
    report = run(tmp_path, pgdb, resumed, batch=5)
    assert report.resumed == 10 and report.embedded == 21 - 10  # 20 memories and one contact's notes
    assert len(crashing.texts) + len(resumed.texts) == 21  # nothing embedded twice
    b = model_b()
    rt, alice = opened(tmp_path, pgdb, b)
    try:
        for i in (0, 9, 10, 19):
            assert nearest(rt, alice, b, f"nota {i} sobre el coche", 1) == [f"nota {i} sobre el coche"]
    finally:
        rt.close()


def test_the_command_needs_the_owner_and_says_so(tmp_path: Path, pgdb: PgDatabase) -> None:
    fill(tmp_path, pgdb, "alice", ["uno"])
    env = {"JARVIS_STORE": "postgres", "JARVIS_DATABASE_URL": pgdb.app_url}
    done = run_cli(["reindex"], home=tmp_path, env=env)
    assert done.returncode == 2 and "the tables' owner" in done.stderr and done.stdout == ""
    rt, _ = opened(tmp_path, pgdb, model_a())  # untouched: still on A
    rt.close()


def test_pgvector_searches_the_new_vectors_after_the_switch(tmp_path: Path) -> None:
    with pgvector_cluster() as cluster, fresh_database(cluster) as db:
        fill(tmp_path, db, "alice", ["Hay que revisar el coche en marzo", "El partido de fútbol es el domingo"],
             index="pgvector")
        report = run(tmp_path, db, model_b())
        assert report.switched
        b = model_b()
        rt, alice = opened(tmp_path, db, b, index="pgvector")
        try:
            assert isinstance(rt.index, PgVectorIndex)
            assert nearest(rt, alice, b, "car service", 1) == ["Hay que revisar el coche en marzo"]
            assert nearest(rt, alice, b, "football", 1) == ["El partido de fútbol es el domingo"]
        finally:
            rt.close()


def test_an_unreachable_database_exits_3_without_the_password(tmp_path: Path) -> None:
    env = {"JARVIS_STORE": "postgres", "JARVIS_DATABASE_URL": "postgresql://owner:secret-pw@127.0.0.1:1/jarvis"}
    done = run_cli(["reindex"], home=tmp_path, env=env)
    assert done.returncode == 3 and "cannot connect" in done.stderr and "secret-pw" not in done.stderr + done.stdout
