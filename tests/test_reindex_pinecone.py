"""`jarvis-mcp reindex` with Pinecone as the vector index, through the real SDK against tests/fake_pinecone.py:
the new model's vectors go to new namespaces keyed by the model (`user_{uuid}_m<hash>`), in the index the
settings name (a new dimension needs a new index), while servers on the old model keep querying the old
namespaces; the switch records the suffix in the store, and a server on the new model queries there.
The exact requests are asserted at the HTTP boundary.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pinecone._internal.http_client as pinecone_http
import pytest
from fake_pinecone import API_KEY, FakePinecone, serve
from reindex_support import TRANSLATE, Crashing, FakeEmbedder, model_a, model_b

from jarvis_mcp.adapters.pinecone_index import model_suffix
from jarvis_mcp.bootstrap import open_reindex, open_runtime
from jarvis_mcp.config import Settings
from jarvis_mcp.memory.ports import MemoryFilter
from jarvis_mcp.runtime import Runtime


@pytest.fixture(autouse=True)
def no_sdk_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pinecone_http, "_retry_sleep", lambda _: None)


@pytest.fixture
def old_index() -> Iterator[FakePinecone]:
    with serve(FakePinecone(64)) as f:
        yield f


@pytest.fixture
def new_index() -> Iterator[FakePinecone]:
    with serve(FakePinecone(128)) as f:
        yield f


def settings(home: Path, index: FakePinecone, user: str = "alice") -> Settings:
    return Settings(home=home, user=user, vector_index="pinecone", pinecone_api_key=API_KEY,  # type: ignore[arg-type]
                    pinecone_host=index.url)


def opened(home: Path, index: FakePinecone, embedder: FakeEmbedder, user: str = "alice") -> tuple[Runtime, str]:
    rt = open_runtime(settings(home, index, user), embedder=embedder)
    return rt, rt.local_user_id()


def nearest(rt: Runtime, user: str, embedder: FakeEmbedder, query: str, k: int = 3) -> list[str]:
    seqs = [s for s, _ in rt.index.search(user, embedder.embed([query])[0], MemoryFilter(), k)]
    texts = {r.seq: r.text for r in rt.store.memories_by_seq(user, seqs)}
    return [texts[s] for s in seqs if s in texts]


def fill(home: Path, index: FakePinecone, user: str, texts: list[str]) -> str:
    rt, uid = opened(home, index, model_a(), user)
    try:
        for t in texts:
            rt.scope_for(uid).memory.remember(t)
    finally:
        rt.close()
    return uid


def run(home: Path, index: FakePinecone, embedder: FakeEmbedder, batch: int = 2):  # noqa: ANN201
    r = open_reindex(settings(home, index), embedder=embedder, batch=batch)
    try:
        return r.run()
    finally:
        r.close()


def test_new_vectors_go_to_new_namespaces_of_the_new_index(tmp_path: Path, old_index: FakePinecone,
                                                           new_index: FakePinecone) -> None:
    alice = fill(tmp_path, old_index, "alice", ["Hay que revisar el coche", "El partido de fútbol"])
    bob = fill(tmp_path, old_index, "bob", ["Bob va al dentista"])
    old_requests = len(old_index.requests)
    b = model_b()
    run(tmp_path, new_index, b)
    suffix = model_suffix("fake-b", 128)
    assert len(old_index.requests) == old_requests  # the old index is only read by the old servers
    describe, *upserts = new_index.requests
    assert describe.path == "/describe_index_stats"  # the new index's dimension is checked first
    assert [(r.path, r.body["namespace"], [v["id"] for v in r.body["vectors"]]) for r in upserts] == [
        ("/vectors/upsert", f"user_{alice}{suffix}", ["1", "2"]),
        ("/vectors/upsert", f"user_{bob}{suffix}", ["3"]),
    ]
    sent = upserts[0].body["vectors"][0]
    assert np.allclose(sent["values"], b.embed(["Hay que revisar el coche"])[0], atol=1e-6)
    assert set(sent["metadata"]) == {"kind", "ts"} and sent["metadata"]["kind"] == "note"
    assert old_index.ids(f"user_{alice}") == {"1", "2"}  # still there for servers on A

    rt, uid = opened(tmp_path, new_index, model_b())
    try:
        assert nearest(rt, uid, b, "car service", 1) == ["Hay que revisar el coche"]
        assert new_index.requests[-1].body["namespace"] == f"user_{alice}{suffix}"
    finally:
        rt.close()
    rt, uid = opened(tmp_path, new_index, model_b(), "bob")
    try:
        assert nearest(rt, uid, b, "dentist", 5) == ["Bob va al dentista"]  # bob's namespace: only his
    finally:
        rt.close()


def test_same_dimension_same_index_and_writes_during_the_run(tmp_path: Path, old_index: FakePinecone) -> None:
    alice = fill(tmp_path, old_index, "alice", ["recuerdo uno", "recuerdo dos", "recuerdo tres"])
    b64 = FakeEmbedder("fake-b-64", 64, 2, TRANSLATE)
    suffix = model_suffix("fake-b-64", 64)
    server, _ = opened(tmp_path, old_index, model_a())
    memory = server.scope_for(alice).memory
    doomed = memory.search("recuerdo uno", top_k=1).hits[0].id  # seq 1: in the first batch
    mark: list[int] = []

    class Hooked(Crashing):
        def __init__(self) -> None:
            super().__init__(after=None, hook=self.meanwhile)
            self.model_id, self.dim, self.seed = "fake-b-64", 64, 2

        def meanwhile(self, call: int) -> None:
            if call == 2:  # A's server answers from its namespace, writes and forgets there
                assert [h.text for h in memory.search("recuerdo tres", top_k=1).hits] == ["recuerdo tres"]
                memory.remember("El pasaporte está en el cajón")
                memory.forget([doomed])
                mark.append(len(old_index.requests))

    report = run(tmp_path, old_index, Hooked())
    server.close()
    assert report.switched
    new_ns = f"user_{alice}{suffix}"
    # Seq 1 was sent to the new namespace before it was forgotten: the switch deletes it there too.
    deletes = [r.body for r in old_index.requests[mark[0]:] if r.path == "/vectors/delete"]
    assert deletes == [{"ids": ["1"], "namespace": new_ns}]
    assert old_index.ids(new_ns) == {"2", "3", "4"}
    rt, uid = opened(tmp_path, old_index, b64)
    try:
        assert nearest(rt, uid, b64, "passport", 1) == ["El pasaporte está en el cajón"]
        assert "recuerdo uno" not in nearest(rt, uid, b64, "recuerdo", 10)
    finally:
        rt.close()


def test_a_crash_resends_nothing_already_saved(tmp_path: Path, new_index: FakePinecone, old_index: FakePinecone) -> None:
    alice = fill(tmp_path, old_index, "alice", [f"nota {i}" for i in range(6)])
    with pytest.raises(RuntimeError, match="injected crash"):
        run(tmp_path, new_index, Crashing(after=2), batch=2)
    suffix = model_suffix("fake-b", 128)
    assert new_index.ids(f"user_{alice}{suffix}") == {"1", "2", "3", "4"}
    before = len(new_index.requests)
    run(tmp_path, new_index, model_b(), batch=2)
    ids = [v["id"] for r in new_index.requests[before:] if r.path == "/vectors/upsert" for v in r.body["vectors"]]
    assert ids == ["5", "6"]
