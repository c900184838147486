"""`jarvis-mcp reindex` on the embedded store (SQLite + sqlite-vec): a store filled with model A moves to model
B (another dimension): memories, document passages and contact notes; searches give B's results; a crash
mid-way resumes without embedding anything twice; servers on A keep answering during the run and their
writes are kept (deletions stay deleted); two users stay apart; A is refused afterwards, naming the command.
The fake models are in reindex_support.py; the command line is run for real (kill -9 included).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from reindex_support import Crashing, FakeEmbedder, model_a, model_b
from servers import clean_env, run_cli

from jarvis_mcp.bootstrap import open_reindex, open_runtime
from jarvis_mcp.config import Settings
from jarvis_mcp.documents.ingest import embedding_texts, extract
from jarvis_mcp.documents.service import indexed_chunks
from jarvis_mcp.errors import StoreMismatch
from jarvis_mcp.memory.ports import MemoryFilter
from jarvis_mcp.memory.service import MemoryInput
from jarvis_mcp.reindex import Reindexer
from jarvis_mcp.reindex.ports import CONTACT, MEMORY
from jarvis_mcp.runtime import Runtime

# Two sections long enough to be two passages (documents/ingest.py: CHUNK_MIN_SECTION).
GUIDE = ("# Car care\n\n" + "El coche necesita revisar los frenos cada invierno. " * 10 + "\n\n# Pets\n\n"
         + "El veterinario abre los lunes y atiende urgencias. " * 10 + "\n").encode()
NOTES = ("note",)
SPANISH = ["Hay que revisar el coche en marzo", "El partido de fútbol es el domingo",
           "Las llaves están debajo de la maceta", "El dentista es el martes a las cinco"]


def settings(home: Path, user: str = "alice") -> Settings:
    return Settings(home=home, user=user)


def opened(home: Path, embedder: FakeEmbedder, user: str = "alice") -> tuple[Runtime, str]:
    rt = open_runtime(settings(home, user), embedder=embedder)
    return rt, rt.local_user_id()


def nearest(rt: Runtime, user: str, embedder: FakeEmbedder, query: str, k: int = 3,
            kinds: tuple[str, ...] | None = None) -> list[str]:
    """Texts of the k nearest memories by vector alone, as the server's index ranks them."""
    seqs = [s for s, _ in rt.index.search(user, embedder.embed([query])[0], MemoryFilter(kinds=kinds), k)]
    texts = {r.seq: r.text for r in rt.store.memories_by_seq(user, seqs)}
    return [texts[s] for s in seqs]


def fill(home: Path, user: str = "alice", texts: list[str] = SPANISH, *, extras: bool = True) -> None:
    """Memories written by a server on model A and, with extras, a document and a contact with notes."""
    rt, uid = opened(home, model_a(), user)
    try:
        scope = rt.scope_for(uid)
        for t in texts:
            scope.memory.remember(t)
        if extras:
            scope.documents.add_bytes(GUIDE, title="Guía de la casa", filename="guia.md")
            scope.contacts.save(name="Marta Ruiz", notes="veterinario del perro, muy amable")
    finally:
        rt.close()


def reindexer(home: Path, embedder: FakeEmbedder, batch: int = 2) -> Reindexer:
    return open_reindex(settings(home), embedder=embedder, batch=batch)


def run(home: Path, embedder: FakeEmbedder, batch: int = 2):  # noqa: ANN201
    r = reindexer(home, embedder, batch)
    try:
        return r.run()
    finally:
        r.close()


def test_a_store_of_model_a_moves_to_model_b(tmp_path: Path) -> None:
    fill(tmp_path)
    rt, uid = opened(tmp_path, model_a())
    assert nearest(rt, uid, model_a(), "car service", 1, NOTES) != ["Hay que revisar el coche en marzo"]  # A cannot
    rt.close()

    report = run(tmp_path, model_b())
    assert report.switched and (report.previous, report.model_id, report.dim) == ("fake-a", "fake-b", 128)
    assert report.embedded == len(SPANISH) + 2 + 1  # memories, the guide's two passages, one contact's notes

    b = model_b()
    rt, uid = opened(tmp_path, b)
    try:
        assert nearest(rt, uid, b, "car service", 1, NOTES) == ["Hay que revisar el coche en marzo"]
        assert nearest(rt, uid, b, "football", 1, NOTES) == ["El partido de fútbol es el domingo"]
        assert [h.text for h in rt.scope_for(uid).memory.search("dentist", top_k=1).hits] == [SPANISH[3]]
        # A passage gets exactly the vector add_document gives it with B: title and headings, from the original.
        car = next(r for r in rt.store.memories_by_seq(uid, list(range(1, 50)))
                   if r.kind == "document" and "frenos" in r.text)
        views = [embedding_texts("Guía de la casa", c) for c in indexed_chunks(extract(GUIDE, "text/markdown"))]
        want = b.embed(views[0]).mean(axis=0)
        want /= np.linalg.norm(want)
        (got,) = [s for seq, s in rt.index.search(uid, want, MemoryFilter(), 10) if seq == car.seq]
        assert got == pytest.approx(1.0, abs=1e-5)
        # Contact notes too: B's vector of the notes.
        (match,) = rt.store.nearest_contacts(uid, b.embed(["veterinario del perro, muy amable"])[0], None, 1)
        assert match[0].name == "Marta Ruiz" and match[1] == pytest.approx(1.0, abs=1e-5)
    finally:
        rt.close()


def test_afterwards_model_a_is_refused_naming_the_command(tmp_path: Path) -> None:
    fill(tmp_path)
    run(tmp_path, model_b())
    with pytest.raises(StoreMismatch) as refused:
        open_runtime(settings(tmp_path), embedder=model_a())
    message = str(refused.value)
    assert "fake-b (dimension 128)" in message and "fake-a (dimension 64)" in message
    assert "run `jarvis-mcp reindex`" in message
    # And the other way round, before: B is refused by a store of A with the same advice.
    other = tmp_path / "other"
    fill(other)
    with pytest.raises(StoreMismatch, match="run `jarvis-mcp reindex` to move it to fake-b"):
        open_runtime(settings(other), embedder=model_b())


def test_reindexing_again_to_the_same_model_does_nothing(tmp_path: Path) -> None:
    fill(tmp_path)
    run(tmp_path, model_b())
    again = model_b()
    report = run(tmp_path, again)
    assert not report.switched and again.texts == []


def test_a_crash_after_some_batches_resumes_where_it_stopped(tmp_path: Path) -> None:
    texts = [f"nota número {i} sobre el coche" for i in range(30)]
    fill(tmp_path, texts=texts)
    total = 30 + 2 + 1
    crashing = Crashing(after=3)
    with pytest.raises(RuntimeError, match="injected crash"):
        run(tmp_path, crashing, batch=4)
    assert len(crashing.texts) == 3 * 4  # three batches saved before the crash
    # Nothing switched: A still opens and answers with its own vectors.
    rt, uid = opened(tmp_path, model_a())
    assert nearest(rt, uid, model_a(), "nota número 7 sobre el coche", 1) == ["nota número 7 sobre el coche"]
    rt.close()

    resumed = model_b()
    report = run(tmp_path, resumed, batch=4)
    assert report.resumed == 12
    # Only what the crashed run had not saved is embedded (passages embed their views: two texts each here).
    assert report.embedded == total - 12
    assert len(crashing.texts) + len(resumed.texts) == total
    b = model_b()
    rt, uid = opened(tmp_path, b)
    try:
        for i in (0, 11, 12, 29):
            assert nearest(rt, uid, b, f"nota número {i} sobre el coche", 1) == [f"nota número {i} sobre el coche"]
    finally:
        rt.close()


def test_servers_on_model_a_keep_answering_and_their_writes_are_kept(tmp_path: Path) -> None:
    fill(tmp_path, texts=[f"recuerdo {i}" for i in range(10)])
    server, uid = opened(tmp_path, model_a())
    memory = server.scope_for(uid).memory
    doomed = memory.search("recuerdo 1", top_k=1).hits[0].id
    written: list[str] = []

    def meanwhile(call: int) -> None:
        if call == 2:  # the first batch is saved: the server still searches A's vectors, and writes
            assert [h.text for h in memory.search("recuerdo 3", top_k=1).hits] == ["recuerdo 3"]
            written.append(memory.remember("El pasaporte está en el cajón").memory.id)
            assert memory.forget([doomed]).forgotten == [doomed]

    report = run(tmp_path, Crashing(after=None, hook=meanwhile), batch=4)
    assert report.switched and written

    # The server on A learns of the switch at its next write or uncached search, and refuses.
    with pytest.raises(StoreMismatch, match="jarvis-mcp reindex"):
        memory.search("recuerdo 3", top_k=1)
    with pytest.raises(StoreMismatch, match="jarvis-mcp reindex"):
        memory.remember("escrito con el modelo viejo")
    server.close()

    b = model_b()
    rt, uid = opened(tmp_path, b)
    try:
        assert nearest(rt, uid, b, "passport", 1) == ["El pasaporte está en el cajón"]
        everything = nearest(rt, uid, b, "recuerdo", 50)
        assert "recuerdo 1" not in everything and "escrito con el modelo viejo" not in everything
        assert len(everything) == rt.store.count_memories(uid)  # every memory has exactly one vector of B
    finally:
        rt.close()


def test_the_switch_catches_up_with_writes_made_after_the_last_pass(tmp_path: Path) -> None:
    fill(tmp_path, texts=["uno", "dos", "tres"], extras=False)
    r = reindexer(tmp_path, model_b())
    store = r.store
    store.reindex_start("fake-b", 128)
    for source in (MEMORY, CONTACT):
        rows = store.reindex_pending(source, 0, 100)
        store.reindex_save(rows, r.views.vectors(rows, r.embedder))
    server, uid = opened(tmp_path, model_a())
    server.scope_for(uid).memory.remember("cuatro")
    gone = server.scope_for(uid).memory.search("dos", top_k=1).hits[0].id
    gone_seq = server.store.memories_by_id(uid, [gone])[0].seq
    server.scope_for(uid).memory.forget([gone])
    server.close()
    seen: dict[str, object] = {}

    def finish(rows, orphans):  # noqa: ANN001, ANN202
        seen.update(rows=[x.text for x in rows], orphans=orphans)
        return r.views.vectors(rows, r.embedder)

    report = store.reindex_switch("fake-b", 128, finish, {})
    r.close()
    assert seen == {"rows": ["cuatro"], "orphans": {uid: [gone_seq]}}
    assert (report.caught_up, report.dropped) == (1, 1)
    b = model_b()
    rt, uid = opened(tmp_path, b)
    try:
        assert sorted(nearest(rt, uid, b, "x", 10)) == ["cuatro", "tres", "uno"]
        assert nearest(rt, uid, b, "cuatro", 1) == ["cuatro"]
    finally:
        rt.close()


def test_two_users_keep_their_own_vectors(tmp_path: Path) -> None:
    fill(tmp_path, "alice", ["Alice guarda el pasaporte en el cajón"])
    fill(tmp_path, "bob", ["Bob guarda el pasaporte en la mochila"])
    run(tmp_path, model_b())
    b = model_b()
    for user, mine in (("alice", "Alice guarda el pasaporte en el cajón"), ("bob", "Bob guarda el pasaporte en la mochila")):
        rt, uid = opened(tmp_path, b, user)
        try:
            found = nearest(rt, uid, b, "passport", 10)
            assert mine in found and all("pasaporte" not in t or t == mine for t in found)
            assert rt.store.count_memories(uid) == len(found)
        finally:
            rt.close()


# -- the command line ----------------------------------------------------------------------------


def fill_many(home: Path, n: int) -> None:
    rt, uid = opened(home, model_a(), "local")
    try:
        memory = rt.scope_for(uid).memory
        for start in range(0, n, 200):
            memory.remember_many([MemoryInput(f"memoria {i}: el coche, la casa y el jardín número {i}")
                                  for i in range(start, min(n, start + 200))])
    finally:
        rt.close()


def test_the_command_shows_progress_on_stderr_and_the_server_opens_after(tmp_path: Path) -> None:
    fill_many(tmp_path, 40)
    done = run_cli(["reindex", "--batch", "8"], home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "40/40 embedded" in done.stderr and "[" in done.stderr
    assert done.stdout.count("\n") == 1 and "moved from fake-a to" in done.stdout and "40 rows embedded" in done.stdout
    rt = open_runtime(Settings(home=tmp_path))  # the configured (default) embedder opens it
    rt.close()
    with pytest.raises(StoreMismatch, match="jarvis-mcp reindex"):
        open_runtime(Settings(home=tmp_path), embedder=model_a())
    again = run_cli(["reindex"], home=tmp_path)
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_a_bad_batch_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    fill_many(tmp_path, 3)
    done = run_cli(["reindex", "--batch", "0"], home=tmp_path)
    assert done.returncode == 2 and "--batch" in done.stderr and done.stdout == ""
    rt = open_runtime(Settings(home=tmp_path), embedder=model_a())  # still on A, untouched
    rt.close()


def test_kill_9_mid_way_then_run_again_continues(tmp_path: Path) -> None:
    fill_many(tmp_path, 600)
    proc = subprocess.Popen([sys.executable, "-m", "jarvis_mcp", "reindex", "--batch", "8"], env=clean_env(tmp_path, None),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen += os.read(proc.stderr.fileno(), 4096)
        counts = [int(x.split(b"/")[0]) for x in seen.replace(b"\r", b"\n").split(b"] ")[1:] if b"/" in x]
        if counts and 100 <= counts[-1] < 500:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    again = run_cli(["reindex", "--batch", "8"], home=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "done by an earlier run" in again.stdout
    resumed = int(again.stdout.split(" done by an earlier run")[0].rsplit("; ", 1)[1])
    embedded = int(again.stdout.split(" rows embedded")[0].rsplit(": ", 1)[1])
    assert resumed >= 100 and resumed + embedded == 600
    rt = open_runtime(Settings(home=tmp_path))
    try:
        uid = rt.local_user_id()
        assert len(rt.index.search(uid, rt.embedder.embed(["coche"])[0], MemoryFilter(), 1000)) == 600
    finally:
        rt.close()
