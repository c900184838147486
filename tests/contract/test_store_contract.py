"""The Store port's contract, run over every store adapter (see conftest.py): the same answers from SQLite
and from PostgreSQL, and never another user's rows."""

from __future__ import annotations

import hashlib
import time
import uuid

import numpy as np
import pytest

from jarvis_mcp.account.ports import ConversationRecord
from jarvis_mcp.documents.ports import NewDocument, QuotaExceeded
from jarvis_mcp.errors import StoreMismatch
from jarvis_mcp.memory.ports import MemoryFilter, NewMemory
from jarvis_mcp.store import Store
from jarvis_mcp.text import content_hash, fold, keyword_terms


def new_user(store: Store, name: str = "user") -> str:
    """A user no other test has: the tests of a module share one database per backend."""
    return store.user_for_identity("https://idp.test", f"{name}-{uuid.uuid4()}", "local", None)


def item(text: str, kind: str = "note", tags: tuple[str, ...] = (), occurred_at: float | None = None,
         **extra: object) -> NewMemory:
    return NewMemory(kind=kind, text=text, content_hash=content_hash(fold(text)), tags=tags, occurred_at=occurred_at,
                     **extra)  # type: ignore[arg-type]


def add(store: Store, embedder, user: str, text: str, **kw: object) -> int:
    return store.insert_memories(user, [item(text, **kw)], embedder.embed([text]))[0].seq  # type: ignore[arg-type]


# -- the embedding model guard --------------------------------------------------------------------


def test_another_embedding_model_is_refused(open_store, embedder) -> None:
    store, _ = open_store()
    with pytest.raises(StoreMismatch) as wrong_model:
        store.ensure_embedding_model("text-embedding-3-small", embedder.dim)
    assert embedder.model_id in str(wrong_model.value) and "text-embedding-3-small" in str(wrong_model.value)
    with pytest.raises(StoreMismatch, match=f"dimension {embedder.dim}.*dimension 1536"):
        store.ensure_embedding_model(embedder.model_id, 1536)
    store.ensure_embedding_model(embedder.model_id, embedder.dim)  # the same one again is fine


# -- identities and profile -----------------------------------------------------------------------


def test_identity_creates_a_user_then_stays_stable(store_index) -> None:
    store, _ = store_index
    subject = f"alice-{uuid.uuid4()}"
    alice = store.user_for_identity("https://idp", subject, "google", None)
    assert uuid.UUID(alice) and store.get_user(alice) is not None
    assert store.user_for_identity("https://idp", subject, "google", None) == alice
    # The same subject at another issuer is another person.
    assert store.user_for_identity("https://other-idp", subject, "google", None) != alice


def test_same_verified_email_links_a_new_identity(store_index) -> None:
    store, _ = store_index
    mail = f"alice-{uuid.uuid4().hex[:8]}@example.com"
    alice = store.user_for_identity("https://accounts.google.com", f"g-{uuid.uuid4()}", "google", mail.upper())
    assert store.user_for_identity("https://magic.link", f"m-{uuid.uuid4()}", "email", mail) == alice
    stranger = store.user_for_identity("https://magic.link", f"m-{uuid.uuid4()}", "email", f"x{mail}")
    wallet = store.user_for_identity("0x-wallet", f"0x{uuid.uuid4().hex}", "wallet", None)
    telegram = store.user_for_identity("telegram", f"t-{uuid.uuid4()}", "telegram", None)
    assert len({alice, stranger, wallet, telegram}) == 4


def test_profile_update_and_isolation(store_index) -> None:
    store, _ = store_index
    alice, bob = new_user(store, "alice"), new_user(store, "bob")
    updated = store.update_user(alice, {"name": "Alice", "timezone": "Europe/Madrid",
                                        "preferences": {"tone": "brief", "lang": "es"}})
    assert (updated.name, updated.timezone, updated.preferences) == ("Alice", "Europe/Madrid", {"tone": "brief", "lang": "es"})
    assert store.get_user(alice) == updated
    assert store.get_user(bob).name is None and store.get_user(bob).preferences == {}
    assert store.get_user(str(uuid.uuid4())) is None
    with pytest.raises(ValueError):
        store.update_user(alice, {"voice_key_hash": "x"})


# -- memories -------------------------------------------------------------------------------------


def test_insert_dedups_on_the_users_content_hash(store_index, embedder) -> None:
    store, _ = store_index
    alice, bob = new_user(store, "alice"), new_user(store, "bob")
    first = store.insert_memories(alice, [item("Ana's birthday is 3 May", tags=("family",))],
                                  embedder.embed(["Ana's birthday is 3 May"]))[0]
    texts = ["ana's BIRTHDAY is 3 may", "Lunch with Marco on Friday"]
    again = store.insert_memories(alice, [item(t) for t in texts], embedder.embed(texts))
    assert (again[0].id, again[0].seq, again[0].tags) == (first.id, first.seq, ("family",))
    assert again[1].id != first.id and again[1].seq > first.seq
    assert store.count_memories(alice) == 2
    # Bob's identical text is his own memory.
    bobs = store.insert_memories(bob, [item("Ana's birthday is 3 May")], embedder.embed(["Ana's birthday is 3 May"]))[0]
    assert bobs.id != first.id and store.count_memories(bob) == 1
    found = store.memories_by_hash(alice, [content_hash(fold("Ana's birthday is 3 May"))])
    assert [r.id for r in found.values()] == [first.id]


def test_reads_by_id_seq_and_recency(store_index, embedder) -> None:
    store, _ = store_index
    alice = new_user(store)
    seqs = [add(store, embedder, alice, f"memory number {i}", occurred_at=1_700_000_000.0 + i) for i in range(3)]
    recent = store.recent_memories(alice, 2)
    assert [r.seq for r in recent] == seqs[::-1][:2]
    rec = recent[0]
    assert rec.occurred_at == 1_700_000_002.0 and rec.created_at <= time.time() and rec.kind == "note"
    assert store.memories_by_id(alice, [rec.id, "not-a-uuid", "", str(uuid.uuid4())]) == [rec]
    assert {r.seq for r in store.memories_by_seq(alice, seqs)} == set(seqs)
    assert store.memories_by_seq(alice, []) == [] and store.memories_by_id(alice, []) == []


def test_delete_returns_what_was_deleted(store_index, embedder) -> None:
    store, index = store_index
    alice = new_user(store)
    text = "The spare key is under the blue pot"
    seq = add(store, embedder, alice, text)
    mid = store.memories_by_seq(alice, [seq])[0].id
    assert store.delete_memories(alice, [mid, "nonsense"]) == [mid]
    assert store.delete_memories(alice, [mid]) == []
    assert store.memories_by_id(alice, [mid]) == [] and store.count_memories(alice) == 0
    assert store.keyword_search(alice, keyword_terms(text), MemoryFilter(), 10) == []
    assert index.search(alice, embedder.embed([text])[0], MemoryFilter(), 10) == []
    # The same text can be remembered again after being forgotten.
    assert add(store, embedder, alice, text) > seq


def test_keyword_search_folds_accents_and_filters_before_ranking(store_index, embedder) -> None:
    store, _ = store_index
    alice = new_user(store)
    cafe = add(store, embedder, alice, "Café con Jose en la Plaza Mayor", kind="event", occurred_at=1_700_000_000.0)
    many = add(store, embedder, alice, "cafe cafe cafe: the cafe list, more cafe", tags=("coffee",))
    assert set(store.keyword_search(alice, ["cafe"], MemoryFilter(), 10)) == {cafe, many}
    assert store.keyword_search(alice, keyword_terms("CAFÉ josé"), MemoryFilter(), 10)[0] == cafe
    # A filtered search with limit 1 still finds the one row that passes, however it would have ranked.
    assert store.keyword_search(alice, ["cafe"], MemoryFilter(kinds=("event",)), 1) == [cafe]
    assert store.keyword_search(alice, ["cafe"], MemoryFilter(tags=("coffee",)), 1) == [many]
    assert store.keyword_search(alice, ["cafe"], MemoryFilter(since=1_600_000_000.0, until=1_700_000_001.0), 1) == [cafe]
    assert store.keyword_search(alice, ["cafe"], MemoryFilter(tags=("nope",)), 10) == []
    assert store.keyword_search(alice, [], MemoryFilter(), 10) == []
    assert store.keyword_search(alice, ["'", "&|!", "zzzunknown"], MemoryFilter(), 10) == []


def test_conversations_actions_and_usage(store_index, embedder) -> None:
    store, _ = store_index
    alice, bob = new_user(store, "alice"), new_user(store, "bob")
    conv = ConversationRecord(str(uuid.uuid4()), "Planning", 1_700_000_000.0, 2)
    store.add_conversation(alice, conv)
    store.add_conversation(alice, ConversationRecord(str(uuid.uuid4()), None, 1_600_000_000.0, 1))
    turns = ["book the flight", "done: Madrid, Friday 9:00"]
    recs = store.insert_memories(alice, [
        item(t, kind="conversation", conversation_id=conv.id, role=role, position=i)
        for i, (t, role) in enumerate(zip(turns, ["user", "assistant"], strict=True))
    ], embedder.embed(turns))
    assert [(r.conversation_id, r.role) for r in recs] == [(conv.id, "user"), (conv.id, "assistant")]
    assert store.recent_conversations(alice, 10)[0] == conv
    assert len(store.recent_conversations(alice, 10)) == 2 and store.recent_conversations(bob, 10) == []

    store.record_action(alice, "remember", {"text": "x\x00y", "n": 1}, "ok", None, 1.5)
    store.record_action(alice, "remember", {"text": "bad"}, "error", "text: must not be empty", 0.5)
    store.record_action(alice, "forget", {"memory_ids": []}, "ok", None, 0.1)
    actions = store.recent_actions(alice, 10)
    assert [a.tool for a in actions] == ["forget", "remember", "remember"]
    assert actions[1].status == "error" and actions[1].error == "text: must not be empty"
    usage = {(tool, calls, errors) for _, tool, calls, errors in store.usage(alice, 1)}
    assert usage == {("remember", 2, 1), ("forget", 1, 0)}
    assert store.recent_actions(bob, 10) == [] and store.usage(bob, 30) == []


# -- documents ------------------------------------------------------------------------------------


def doc(title: str, text: str, tags: tuple[str, ...] = (), size: int | None = None) -> NewDocument:
    data = text.encode()
    return NewDocument(id=str(uuid.uuid4()), title=title, filename=f"{title.lower()}.txt", mime_type="text/plain",
                       size=size or len(data), sha256=hashlib.sha256(data).hexdigest(), tags=tags, pages=None,
                       text=text, search_key=fold(f"{title} {title.lower()}.txt"))


def test_documents_dedup_quota_list_and_delete_with_passages(store_index, embedder) -> None:
    store, index = store_index
    alice, bob = new_user(store, "alice"), new_user(store, "bob")
    lease = doc("Lease", "The lease ends on 31 March. Rent is 900 euros.", tags=("home",))
    rec, created = store.add_document(alice, lease, 10_000)
    assert created and rec.chunks is None and rec.chars == len(lease.text)
    again, created = store.add_document(alice, doc("Lease", lease.text), 10_000)
    assert not created and again.id == lease.id
    with pytest.raises(QuotaExceeded):
        store.add_document(alice, doc("Big", "another text", size=9_990), 10_000)
    store.add_document(alice, doc("Notes", "Plain notes"), 10_000)

    passages = ["The lease ends on 31 March.", "Rent is 900 euros."]
    stored = store.insert_memories(alice, [item(p, kind="document", tags=("home",), document_id=lease.id, position=i)
                                           for i, p in enumerate(passages)], embedder.embed(passages))
    store.mark_document_indexed(alice, lease.id, len(stored))
    assert store.get_document(alice, lease.id).chunks == 2
    assert stored[0].document_id == lease.id
    assert store.memories_by_seq(alice, [stored[0].seq])[0].document_title == "Lease"
    assert store.document_text(alice, lease.id) == lease.text
    assert [d.title for d in store.list_documents(alice, None, [], 10)] == ["Notes", "Lease"]
    assert [d.title for d in store.list_documents(alice, "lease", [], 10)] == ["Lease"]
    assert [d.title for d in store.list_documents(alice, None, ["home"], 10)] == ["Lease"]
    assert store.document_usage(alice) == (2, len(lease.text.encode()) + len(b"Plain notes"))

    # Bob sees none of it, by id or by listing, and cannot delete it.
    assert store.get_document(bob, lease.id) is None and store.document_text(bob, lease.id) is None
    assert store.list_documents(bob, None, [], 10) == [] and store.document_usage(bob) == (0, 0)
    assert store.delete_document(bob, lease.id) is None
    assert store.get_document(alice, "not-a-uuid") is None

    assert store.delete_document(alice, lease.id).id == lease.id
    assert store.get_document(alice, lease.id) is None
    assert store.memories_by_seq(alice, [r.seq for r in stored]) == []
    vector = embedder.embed(["when does the lease end"])[0]
    assert not {s for s, _ in index.search(alice, vector, MemoryFilter(), 10)} & {r.seq for r in stored}


# -- isolation inside the store -------------------------------------------------------------------


def test_retrievers_never_cross_users(store_index, embedder) -> None:
    store, index = store_index
    alice, bob = new_user(store, "alice"), new_user(store, "bob")
    shared_text = "Invoice INV-4242 from Kestrel Plumbing is due Friday"
    alice_seqs = {
        add(store, embedder, alice, shared_text, kind="task", tags=("bills",), occurred_at=1_700_000_000.0),
        add(store, embedder, alice, "Alice's secret: the safe combination is 31-07-99", tags=("bills",)),
    }
    bob_seqs = {add(store, embedder, bob, shared_text, kind="task", tags=("bills",), occurred_at=1_700_000_000.0)}
    assert not alice_seqs & bob_seqs

    filters = [
        MemoryFilter(),
        MemoryFilter(kinds=("task",)),
        MemoryFilter(tags=("bills",)),
        MemoryFilter(since=0.0, until=2_000_000_000.0),
        MemoryFilter(kinds=("task", "note"), tags=("bills",), since=0.0),
    ]
    for query in (shared_text, "safe combination 31-07-99"):
        vector = embedder.embed([query])[0]
        for flt in filters:
            assert set(store.keyword_search(bob, keyword_terms(query), flt, 50)) <= bob_seqs, (query, flt)
            assert {seq for seq, _ in index.search(bob, vector, flt, 50)} <= bob_seqs, (query, flt)
            assert set(store.keyword_search(alice, keyword_terms(query), flt, 50)) <= alice_seqs
            assert {seq for seq, _ in index.search(alice, vector, flt, 50)} <= alice_seqs
    assert set(store.keyword_search(bob, keyword_terms(shared_text), MemoryFilter(), 50)) == bob_seqs
    assert store.keyword_search(bob, ["safe", "combination", "31"], MemoryFilter(), 50) == []

    alice_records = store.memories_by_seq(alice, sorted(alice_seqs))
    alice_ids = [r.id for r in alice_records]
    assert store.memories_by_seq(bob, sorted(alice_seqs)) == []
    assert store.memories_by_id(bob, alice_ids) == []
    assert store.memories_by_hash(bob, [content_hash(fold(r.text)) for r in alice_records if r.text != shared_text]) == {}
    assert store.delete_memories(bob, alice_ids) == []
    assert len(store.memories_by_id(alice, alice_ids)) == 2
    assert store.count_memories(alice) == 2 and store.count_memories(bob) == 1
    assert [r.seq for r in store.recent_memories(bob, 10)] == sorted(bob_seqs)


def test_a_second_process_sees_writes_and_deletes(open_store, embedder) -> None:
    """Two handles on the same data (two server processes): cached vectors never go stale."""
    one, index_one = open_store()
    two, index_two = open_store()
    alice = new_user(one)
    query = embedder.embed(["where is the passport"])[0]
    add(one, embedder, alice, "Groceries: milk, bread")
    assert len(index_two.search(alice, query, MemoryFilter(), 10)) == 1  # two caches alice's vectors
    seq = add(one, embedder, alice, "The passport is in the top drawer of the desk")
    assert index_two.search(alice, query, MemoryFilter(), 10)[0][0] == seq
    mid = one.memories_by_seq(alice, [seq])[0].id
    assert two.delete_memories(alice, [mid]) == [mid]
    assert seq not in {s for s, _ in index_one.search(alice, query, MemoryFilter(), 10)}
    assert seq not in {s for s, _ in index_two.search(alice, query, MemoryFilter(), 10)}


def test_batch_insert_keeps_order_and_vectors(store_index) -> None:
    store, index = store_index
    alice = new_user(store)
    rng = np.random.default_rng(7)
    dim = store.dim
    vectors = rng.normal(size=(40, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    recs = store.insert_memories(alice, [item(f"batch item {i}") for i in range(40)], vectors)
    assert [r.text for r in recs] == [f"batch item {i}" for i in range(40)]
    assert [r.seq for r in recs] == sorted(r.seq for r in recs)
    for i in (0, 17, 39):
        best, sim = index.search(alice, vectors[i], MemoryFilter(), 1)[0]
        assert best == recs[i].seq and sim == pytest.approx(1.0, abs=1e-5)


def test_index_version_moves_with_every_memory_write(store_index, embedder) -> None:
    store, _ = store_index
    alice, bob = new_user(store, "alice"), new_user(store, "bob")
    assert store.index_version(alice) == 0 and store.index_version(str(uuid.uuid4())) == 0
    seq = add(store, embedder, alice, "first")
    after_one = store.index_version(alice)
    assert after_one > 0
    add(store, embedder, alice, "first")  # a duplicate writes nothing
    assert store.index_version(alice) == after_one
    store.delete_memories(alice, [store.memories_by_seq(alice, [seq])[0].id])
    assert store.index_version(alice) > after_one and store.index_version(bob) == 0


def test_user_limits_are_the_operators_and_per_user(backend, store_index) -> None:
    store, _ = store_index
    alice, bob = new_user(store, "alice"), new_user(store, "bob")
    assert store.user_limits(alice) is None
    backend.set_limits(store, alice, "pro", {"write_daily": 500})
    limits = store.user_limits(alice)
    assert limits.tier == "pro" and limits.overrides == {"write_daily": 500}
    assert store.user_limits(bob) is None


def test_document_passages_stay_out_of_recent_memories(store_index, embedder) -> None:
    store, _ = store_index
    alice = new_user(store)
    manual = doc("Manual", "Hold the reset button for ten seconds.")
    store.add_document(alice, manual, 10_000)
    assert store.document_by_sha256(alice, manual.sha256).id == manual.id
    assert store.document_by_sha256(new_user(store), manual.sha256) is None
    add(store, embedder, alice, "Hold the reset button for ten seconds.", kind="document", document_id=manual.id,
        position=0)
    note = add(store, embedder, alice, "Call the landlord")
    assert [r.seq for r in store.recent_memories(alice, 10)] == [note]
    assert store.count_memories(alice) == 2
