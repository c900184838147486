"""Pinecone as the VectorIndex, through the real `pinecone` SDK against a fake data plane on 127.0.0.1
(tests/fake_pinecone.py): the exact requests Pinecone would receive, batching, filters, per-user
namespaces, and how the store's writes reach the index (adapters/mirrored_store.py)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pinecone._internal.http_client as pinecone_http
import pytest
from fake_pinecone import API_KEY, FakePinecone, serve

from jarvis_mcp.adapters.mirrored_store import MirroredStore
from jarvis_mcp.adapters.pinecone_index import PineconeIndex, namespace
from jarvis_mcp.bootstrap import open_runtime
from jarvis_mcp.config import ConfigError, Settings, load_settings
from jarvis_mcp.errors import StoreMismatch
from jarvis_mcp.jobs.ports import MIRROR_JOB
from jarvis_mcp.jobs.service import JobWorker
from jarvis_mcp.memory.ports import IndexEntry, MemoryFilter
from jarvis_mcp.runtime import Runtime

ALICE = str(uuid.uuid4())
BOB = str(uuid.uuid4())


@pytest.fixture(autouse=True)
def no_sdk_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK's retry sleeps (its documented seam): its retries still happen, without the waiting.
    monkeypatch.setattr(pinecone_http, "_retry_sleep", lambda _: None)


@pytest.fixture
def fake() -> Iterator[FakePinecone]:
    with serve(FakePinecone(4)) as f:
        yield f


def entry(seq: int, vector: list[float], kind: str = "note", tags: tuple[str, ...] = (), ts: float = 1000.0,
          document_id: str | None = None) -> IndexEntry:
    return IndexEntry(seq, np.array(vector, np.float32), kind, tags, ts, document_id)


def index_for(fake: FakePinecone) -> PineconeIndex:
    return PineconeIndex.connect(API_KEY, host=fake.url)


# -- the requests -------------------------------------------------------------------------------


def test_upsert_request(fake: FakePinecone) -> None:
    index_for(fake).upsert(ALICE, [entry(7, [0.5, 0.25, 0, 0], "fact", ("bank", "home"), 1700000000.5),
                                   entry(8, [0, 1, 0, 0], "document", (), 12.0, "doc-1")])
    (req,) = fake.requests
    assert (req.method, req.path) == ("POST", "/vectors/upsert")
    assert req.headers["api-key"] == API_KEY
    assert req.headers["x-pinecone-api-version"]
    assert req.body == {
        "namespace": f"user_{ALICE}",
        "vectors": [
            {"id": "7", "values": [0.5, 0.25, 0.0, 0.0],
             "metadata": {"kind": "fact", "ts": 1700000000.5, "tags": ["bank", "home"]}},
            {"id": "8", "values": [0.0, 1.0, 0.0, 0.0], "metadata": {"kind": "document", "ts": 12.0, "document_id": "doc-1"}},
        ],
    }


def test_upserts_are_batched_by_count() -> None:
    with serve(FakePinecone(4)) as fake:
        index_for(fake).upsert(ALICE, [entry(i, [1, 0, 0, 0]) for i in range(2500)])
        assert [len(r.body["vectors"]) for r in fake.requests] == [1000, 1000, 500]
        assert len(fake.ids(f"user_{ALICE}")) == 2500


def test_upserts_are_batched_by_size() -> None:
    # 1536 dimensions: the 2 MB request cap binds long before the 1,000 records one.
    with serve(FakePinecone(1536)) as fake:
        rng = np.random.default_rng(1)
        index_for(fake).upsert(ALICE, [entry(i, list(rng.standard_normal(1536))) for i in range(150)])
        sizes = [int(r.headers["content-length"]) for r in fake.requests]
        assert len(sizes) > 1 and max(sizes) < 2_000_000
        assert sum(len(r.body["vectors"]) for r in fake.requests) == 150


@pytest.mark.parametrize(("flt", "expected"), [
    (MemoryFilter(), None),
    (MemoryFilter(kinds=("fact", "task")), {"kind": {"$in": ["fact", "task"]}}),
    (MemoryFilter(tags=("bills",)), {"tags": {"$in": ["bills"]}}),
    (MemoryFilter(kinds=("note",), tags=("a", "b"), since=10.0, until=20.0),
     {"$and": [{"kind": {"$in": ["note"]}}, {"tags": {"$in": ["a", "b"]}}, {"ts": {"$gte": 10.0}}, {"ts": {"$lte": 20.0}}]}),
])
def test_query_request(fake: FakePinecone, flt: MemoryFilter, expected: dict[str, Any] | None) -> None:
    index_for(fake).search(ALICE, np.array([1, 0, 0, 0], np.float32), flt, 25)
    (req,) = fake.requests
    assert req.path == "/query"
    want = {"topK": 25, "vector": [1.0, 0.0, 0.0, 0.0], "namespace": f"user_{ALICE}",
            "includeValues": False, "includeMetadata": False}
    if expected is not None:
        want["filter"] = expected
    assert req.body == want


def test_filters_apply_before_ranking(fake: FakePinecone) -> None:
    index = index_for(fake)
    index.upsert(ALICE, [
        entry(1, [1, 0, 0, 0], "note", ("x",), 100.0),  # the nearest, but filtered out below
        entry(2, [0.9, 0.1, 0, 0], "fact", ("bills",), 150.0),
        entry(3, [0, 1, 0, 0], "fact", ("bills",), 300.0),
        entry(4, [0.8, 0.2, 0, 0], "fact", ("home",), 160.0),
    ])
    q = np.array([1, 0, 0, 0], np.float32)
    assert [s for s, _ in index.search(ALICE, q, MemoryFilter(), 10)] == [1, 2, 4, 3]
    # top 1 among the filtered: a post-filter over the global top 1 would return nothing.
    assert [s for s, _ in index.search(ALICE, q, MemoryFilter(kinds=("fact",), tags=("bills",)), 1)] == [2]
    assert [s for s, _ in index.search(ALICE, q, MemoryFilter(since=155.0, until=400.0), 10)] == [4, 3]
    hits = index.search(ALICE, q, MemoryFilter(), 1)
    assert hits[0][0] == 1 and hits[0][1] == pytest.approx(1.0)


def test_deletes(fake: FakePinecone) -> None:
    index = index_for(fake)
    index.delete(ALICE, list(range(2500)))
    index.delete_document(ALICE, "doc-9")
    bodies = [r.body for r in fake.requests]
    assert [r.path for r in fake.requests] == ["/vectors/delete"] * 4
    assert [len(b["ids"]) for b in bodies[:3]] == [1000, 1000, 500]
    assert bodies[0]["ids"][:3] == ["0", "1", "2"] and bodies[0]["namespace"] == f"user_{ALICE}"
    assert bodies[3] == {"namespace": f"user_{ALICE}", "filter": {"document_id": {"$eq": "doc-9"}}}


def test_each_user_has_a_namespace(fake: FakePinecone) -> None:
    index = index_for(fake)
    index.upsert(ALICE, [entry(1, [1, 0, 0, 0])])
    assert index.search(BOB, np.array([1, 0, 0, 0], np.float32), MemoryFilter(), 10) == []
    index.delete(BOB, [1])
    assert fake.ids(f"user_{ALICE}") == {"1"}


@pytest.mark.parametrize("bad", ["", "alice", "user_x", "../other", f"{ALICE} "])
def test_only_a_uuid_names_a_namespace(fake: FakePinecone, bad: str) -> None:
    with pytest.raises(ValueError):
        index_for(fake).search(bad, np.ones(4, np.float32), MemoryFilter(), 5)
    assert fake.requests == []
    assert namespace(ALICE.upper()) == f"user_{ALICE}"  # one spelling per user


def test_the_index_must_fit_the_embedder() -> None:
    with serve(FakePinecone(8)) as fake:
        index_for(fake).check(8)
        with pytest.raises(StoreMismatch, match="holds 8-dimensional vectors but the configured embedder makes 384"):
            index_for(fake).check(384)
    with serve(FakePinecone(8, metric="dotproduct")) as fake, pytest.raises(StoreMismatch, match="metric 'dotproduct'"):
        index_for(fake).check(8)


# -- in the server: the store first, then Pinecone ----------------------------------------------


@pytest.fixture
def pinecone_runtime(tmp_path: Path, embedder: Any) -> Iterator[Callable[[FakePinecone], Runtime]]:
    opened: list[Runtime] = []

    def make(fake: FakePinecone, user: str = "local") -> Runtime:
        settings = Settings(home=tmp_path, user=user, vector_index="pinecone", pinecone_api_key=API_KEY,
                            pinecone_host=fake.url)
        rt = open_runtime(settings, embedder=embedder)
        opened.append(rt)
        return rt

    yield make
    for rt in opened:
        rt.close()


@pytest.fixture
def fake384() -> Iterator[FakePinecone]:
    with serve(FakePinecone(384)) as f:
        yield f


def test_memories_are_written_searched_and_forgotten_in_pinecone(pinecone_runtime, fake384: FakePinecone) -> None:
    rt = pinecone_runtime(fake384)
    assert isinstance(rt.store, MirroredStore) and isinstance(rt.index, PineconeIndex)
    user = rt.local_user_id()
    ns = f"user_{user}"
    memory = rt.scope_for(user).memory
    boiler = memory.remember("The boiler service is booked for Tuesday", kind="task", tags=["house"]).memory
    memory.remember("Lucia likes green tea", kind="preference")
    assert len(fake384.ids(ns)) == 2
    upsert = next(r for r in fake384.requests if r.path == "/vectors/upsert")
    assert upsert.body["namespace"] == ns
    assert set(upsert.body["vectors"][0]["metadata"]) == {"kind", "ts", "tags"}
    assert "boiler" not in json.dumps(upsert.body)  # vectors and filter fields only: the text stays home

    before = len(fake384.requests)
    hits = memory.search("when is the heating maintenance", top_k=2, kinds=["task"]).hits
    assert hits[0].id == boiler.id and hits[0].similarity is not None
    query = next(r for r in fake384.requests[before:] if r.path == "/query")
    assert query.body["filter"] == {"kind": {"$in": ["task"]}} and query.body["namespace"] == ns

    memory.forget([boiler.id])
    delete = fake384.requests[-1]
    assert delete.path == "/vectors/delete" and delete.body["namespace"] == ns
    assert len(fake384.ids(ns)) == 1


def test_a_documents_passages_reach_pinecone_and_leave_with_it(pinecone_runtime, fake384: FakePinecone) -> None:
    rt = pinecone_runtime(fake384)
    user = rt.local_user_id()
    docs = rt.scope_for(user).documents
    added = docs.add("Lease", text="The flat lease runs until June.\n\nRent is due on the first of the month.")
    ns = f"user_{user}"
    assert len(fake384.ids(ns)) == added.passages >= 1
    metas = [m for _, m in fake384.namespaces[ns].values()]
    assert all(m["kind"] == "document" and m["document_id"] == added.document.id for m in metas)
    docs.delete(added.document.id)
    assert fake384.requests[-1].body == {"namespace": ns, "filter": {"document_id": {"$eq": added.document.id}}}
    assert fake384.ids(ns) == set()


def mirror_worker(rt: Runtime) -> JobWorker:
    """What a server process's worker does with the queue's mirror jobs, run step by step."""
    assert rt.jobs is not None
    return JobWorker(rt.jobs, {MIRROR_JOB: rt.store.mirror_job})  # type: ignore[attr-defined]


def mirror_jobs(rt: Runtime, user: str) -> list[tuple[str, str]]:
    rows = rt.store.db.conn.execute(  # type: ignore[attr-defined]
        "SELECT status, message FROM jobs WHERE user_id = ? AND kind = ? ORDER BY created_at", (user, MIRROR_JOB))
    return [(str(a), str(b)) for a, b in rows]


def test_a_failed_index_write_is_kept_in_the_queue_and_delivered_by_a_worker(
        pinecone_runtime, fake384: FakePinecone, caplog: pytest.LogCaptureFixture) -> None:
    rt = pinecone_runtime(fake384)
    store: MirroredStore = rt.store  # type: ignore[assignment]
    store.retry_every = 0
    user = rt.local_user_id()
    ns = f"user_{user}"
    memory = rt.scope_for(user).memory
    fake384.fail_next(503, 1000, "/vectors/upsert")  # writes fail, the SDK's own retries too
    with caplog.at_level(logging.ERROR):
        first = memory.remember("Passport renewal is due in March").memory
    assert "vector index write failed, queued as job" in caplog.text
    assert mirror_jobs(rt, user) == [("queued", "retrying the index")] and store.pending == 0
    assert memory.get(first.id).text == "Passport renewal is due in March"  # the store has it
    worker = mirror_worker(rt)
    assert worker.run_once() is not None  # still down: put back to wait, not failed
    assert mirror_jobs(rt, user)[0][0] == "queued" and "still refuses" in mirror_jobs(rt, user)[0][1]
    fake384.heal()
    second = memory.remember("The car insurance renews in May").memory  # delivered directly
    assert worker.run_once() is not None and worker.run_once() is None
    assert mirror_jobs(rt, user) == [("done", "done")]
    assert fake384.ids(ns) == {str(seq_of(rt, user, first.id)), str(seq_of(rt, user, second.id))}


def seq_of(rt: Runtime, user: str, memory_id: str) -> int:
    return rt.store.memories_by_id(user, [memory_id])[0].seq


def test_remembering_works_while_pinecone_is_down(pinecone_runtime, fake384: FakePinecone) -> None:
    rt = pinecone_runtime(fake384)
    user = rt.local_user_id()
    memory = rt.scope_for(user).memory
    fake384.fail_next(503, 10_000)  # every request: the near-duplicate check's query too
    result = memory.remember("The gate code is on the fridge")
    assert result.created and result.similar == []  # the advisory check is skipped, the write is not
    assert [s for s, _ in mirror_jobs(rt, user)] == ["queued"]
    fake384.heal()
    assert mirror_worker(rt).run_once() is not None
    assert len(fake384.ids(f"user_{user}")) == 1


def test_a_retried_upsert_does_not_bring_back_a_forgotten_memory(pinecone_runtime, fake384: FakePinecone) -> None:
    rt = pinecone_runtime(fake384)
    user = rt.local_user_id()
    memory = rt.scope_for(user).memory
    fake384.fail_next(503, 1000, "/vectors/upsert")
    secret = memory.remember("My old PIN was 4321").memory
    memory.forget([secret.id])  # the delete reaches the index; the failed upsert waits in the queue
    fake384.heal()
    healed = len(fake384.requests)
    assert mirror_worker(rt).run_once() is not None
    assert fake384.ids(f"user_{user}") == set()
    assert [r.path for r in fake384.requests[healed:]] == []  # the store no longer has it: no upsert


def test_an_undelivered_write_survives_the_process_and_the_next_one_delivers_it(tmp_path: Path, embedder: Any) -> None:
    with serve(FakePinecone(384)) as fake:
        settings = Settings(home=tmp_path, vector_index="pinecone", pinecone_api_key=API_KEY, pinecone_host=fake.url)
        rt = open_runtime(settings, embedder=embedder)
        user = rt.local_user_id()
        fake.fail_next(503, 10_000, "/vectors/upsert")
        rt.scope_for(user).memory.remember("Water the plants on Sunday")
        rt.close()  # the process goes away with the write undelivered
        fake.heal()
        again = open_runtime(settings, embedder=embedder)
        try:
            assert [s for s, _ in mirror_jobs(again, user)] == ["queued"]
            assert mirror_worker(again).run_once() is not None
            assert len(fake.ids(f"user_{user}")) == 1 and mirror_jobs(again, user)[0][0] == "done"
        finally:
            again.close()


async def test_two_users_through_the_server(client_for, fake384: FakePinecone) -> None:
    opts = {"vector_index": "pinecone", "pinecone_api_key": API_KEY, "pinecone_host": fake384.url}
    async with client_for("alice", **opts) as alice, client_for("bob", **opts) as bob:
        assert not (await alice.call_tool("remember", {"text": "Alice's zanzibar holiday plan"})).is_error
        theirs = await bob.call_tool("search_memory", {"query": "zanzibar holiday"})
        assert not theirs.is_error and theirs.structured_content["hits"] == []
        mine = await alice.call_tool("search_memory", {"query": "zanzibar holiday"})
        assert mine.structured_content["hits"][0]["text"] == "Alice's zanzibar holiday plan"
    queried = {r.body["namespace"] for r in fake384.requests if r.path == "/query"}
    written = {r.body["namespace"] for r in fake384.requests if r.path == "/vectors/upsert"}
    assert len(queried) == 2 and len(written) == 1 and written < queried


# -- configuration ------------------------------------------------------------------------------


def test_configuration_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JARVIS_VECTOR_INDEX", "pinecone")
    with pytest.raises(ConfigError, match="needs JARVIS_PINECONE_API_KEY"):
        load_settings()
    monkeypatch.setenv("JARVIS_PINECONE_API_KEY", "k")
    with pytest.raises(ConfigError, match="needs JARVIS_PINECONE_HOST or JARVIS_PINECONE_INDEX"):
        load_settings()


def test_an_unreachable_index_stops_the_server(tmp_path: Path, embedder: Any) -> None:
    settings = Settings(home=tmp_path, vector_index="pinecone", pinecone_api_key=API_KEY,
                        pinecone_host="http://127.0.0.1:1")
    with pytest.raises(ConfigError, match=r"JARVIS_PINECONE_HOST: cannot use the Pinecone index 'http://127\.0\.0\.1:1'"):
        open_runtime(settings, embedder=embedder)


def test_a_wrong_dimension_stops_the_server(tmp_path: Path, embedder: Any) -> None:
    with serve(FakePinecone(1536)) as fake:
        settings = Settings(home=tmp_path, vector_index="pinecone", pinecone_api_key=API_KEY, pinecone_host=fake.url)
        with pytest.raises(StoreMismatch, match="1536-dimensional"):
            open_runtime(settings, embedder=embedder)
