"""The ActionStore port (outbox and voice key) over the SQLite and Postgres stores (see conftest.py).

What the action core relies on: an identical call never inserts twice, status changes are compare-and-set
so one action runs once however many threads or processes race, each user sees only their own rows, and
recovery's scan is the one read across users.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from jarvis_mcp.actions.ports import NewOutbox, OutboxRecord, VoiceKeyState
from jarvis_mcp.actions.service import args_hash

# Pinecone and pgvector only change the vector index; the outbox lives in these two stores.
pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True, scope="module")

LOCK_AFTER, LOCK_SECONDS = 5, 900.0


def new_user(store: Any) -> str:
    return store.user_for_identity("https://idp.test", f"actions-{uuid.uuid4()}", "local", None)


def new(kind: str = "send_email", arguments: dict[str, Any] | None = None, *, key: str | None = None,
        status: str = "queued", expires_at: float | None = None, sensitive: tuple[str, ...] = ()) -> NewOutbox:
    arguments = arguments if arguments is not None else {"to": ["ana@example.com"], "subject": "Hi"}
    return NewOutbox(kind=kind, idempotency_key=key or f"key-{uuid.uuid4()}", args_hash=args_hash(kind, arguments),
                     arguments=arguments, summary=f"{kind} for the test", sensitive=sensitive, status=status,
                     expires_at=expires_at)


def run_together(n: int, work: Callable[[int], Any]) -> list[Any]:
    """n threads released at once; their results (or exceptions), in thread order."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def one(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - reported back to the test
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(isinstance(r, Exception) for r in results), results
    return results


def test_claim_inserts_the_sealed_row(store_index) -> None:
    store, _ = store_index
    alice = new_user(store)
    args = {"to": ["ana@example.com"], "subject": "Café ☕", "nested": {"n": 1, "x": [1.5, None, True]}}
    before = time.time()
    record, created = store.outbox_claim(alice, new(arguments=args, key="k-1", status="pending_confirmation",
                                                    expires_at=before + 300, sensitive=("not a contact",)), 600)
    assert created and uuid.UUID(record.id)
    assert (record.kind, record.idempotency_key, record.arguments, record.status) == (
        "send_email", "k-1", args, "pending_confirmation")
    assert record.sensitive == ("not a contact",) and record.expires_at == pytest.approx(before + 300)
    assert (record.provider, record.provider_ref, record.result, record.error, record.attempts) == (
        None, None, None, None, 0)
    assert before <= record.created_at == record.updated_at <= time.time()
    assert store.outbox_get(alice, record.id) == record
    plain, _ = store.outbox_claim(alice, new(arguments={"n": 2}), 600)
    assert plain.sensitive == () and plain.expires_at is None


def test_claim_finds_the_same_key_or_the_same_arguments_within_the_window(store_index) -> None:
    store, _ = store_index
    alice = new_user(store)
    first, created = store.outbox_claim(alice, new(key="k-1"), 0)
    assert created
    # The same key, whatever the arguments: the first row (the service decides whether that is an error).
    same_key, created = store.outbox_claim(alice, new(arguments={"other": True}, key="k-1"), 0)
    assert not created and same_key.id == first.id
    # Another key, same arguments: a new row when the window is 0 (an explicit key) ...
    explicit, created = store.outbox_claim(alice, new(key="k-2"), 0)
    assert created and explicit.id != first.id
    # ... the earliest matching row within a window (a key derived from the arguments).
    derived, created = store.outbox_claim(alice, new(key="auto-1"), 600)
    assert not created and derived.id == first.id
    other_args, created = store.outbox_claim(alice, new(arguments={"to": ["jon@example.com"]}, key="auto-2"), 600)
    assert created and other_args.id != first.id
    other_kind, created = store.outbox_claim(alice, new(kind="call_contact", key="auto-3"), 600)
    assert created
    assert len(store.outbox_list(alice, 50)) == 4


def test_derived_matches_skip_actions_that_did_not_act(store_index) -> None:
    store, _ = store_index
    alice = new_user(store)
    for dead in ("failed", "cancelled", "expired"):
        args = {"dead": dead}
        row, _ = store.outbox_claim(alice, new(arguments=args), 600)
        assert store.outbox_transition(alice, row.id, ["queued"], dead) is not None
        again, created = store.outbox_claim(alice, new(arguments=args), 600)
        assert created and again.id != row.id, dead
        # An explicit key stays the action's identity whatever became of it.
        same, created = store.outbox_claim(alice, new(arguments=args, key=row.idempotency_key), 0)
        assert not created and same.id == row.id
    lapsed, _ = store.outbox_claim(alice, new(arguments={"lapsed": 1}, status="pending_confirmation",
                                              expires_at=time.time() - 1), 600)
    fresh, created = store.outbox_claim(alice, new(arguments={"lapsed": 1}, status="pending_confirmation",
                                                   expires_at=time.time() + 300), 600)
    assert created and fresh.id != lapsed.id
    live, created = store.outbox_claim(alice, new(arguments={"lapsed": 1}, status="pending_confirmation",
                                                  expires_at=time.time() + 300), 600)
    assert not created and live.id == fresh.id
    for done in ("sent", "not_delivered", "completed"):
        row, _ = store.outbox_claim(alice, new(arguments={"done": done}), 600)
        store.outbox_transition(alice, row.id, ["queued"], done)
        again, created = store.outbox_claim(alice, new(arguments={"done": done}), 600)
        assert not created and again.id == row.id, done  # it acted: a retry must not act again


def test_an_unknown_outcome_is_matched_like_one_that_acted(store_index) -> None:
    """It may have acted: a retry finds it (by key or by arguments) instead of acting again, recovery leaves
    it alone, and only one of two racing resends takes it."""
    store, _ = store_index
    alice = new_user(store)
    row, _ = store.outbox_claim(alice, new(arguments={"maybe": 1}), 600)
    store.outbox_transition(alice, row.id, ["queued"], "sending")
    unknown = store.outbox_transition(alice, row.id, ["sending"], "unknown", {"provider": "smtp", "error": "timeout"})
    assert (unknown.status, unknown.provider, unknown.error, unknown.attempts) == ("unknown", "smtp", "timeout", 1)
    again, created = store.outbox_claim(alice, new(arguments={"maybe": 1}), 600)
    assert not created and again.id == row.id
    keyed, created = store.outbox_claim(alice, new(arguments={"maybe": 1}, key=row.idempotency_key), 0)
    assert not created and keyed.id == row.id
    assert row.id not in {r.id for _, r in store.outbox_unfinished(time.time() + 1)}
    assert store.outbox_transition(alice, row.id, ["queued"], "sending") is None  # not runnable as it is
    resends = run_together(2, lambda i: store.outbox_transition(alice, row.id, ["unknown"], "sending"))
    assert sorted(r is None for r in resends) == [False, True]
    assert store.outbox_get(alice, row.id).attempts == 2


def test_transitions_are_compare_and_set(store_index) -> None:
    store, _ = store_index
    alice = new_user(store)
    row, _ = store.outbox_claim(alice, new(status="pending_confirmation", expires_at=time.time() + 300), 600)
    assert store.outbox_transition(alice, row.id, ["queued"], "sending") is None  # not in that state
    assert store.outbox_get(alice, row.id).status == "pending_confirmation"

    queued = store.outbox_transition(alice, row.id, ["pending_confirmation"], "queued", unexpired=True)
    assert queued is not None and queued.status == "queued" and queued.updated_at >= row.updated_at
    assert store.outbox_transition(alice, row.id, ["pending_confirmation"], "queued") is None  # single use

    sending = store.outbox_transition(alice, row.id, ["queued"], "sending")
    assert sending.status == "sending" and sending.attempts == 1
    with pytest.raises(ValueError, match="not settable"):
        store.outbox_transition(alice, row.id, ["sending"], "sent", {"status": "x", "arguments": {}})
    sent = store.outbox_transition(alice, row.id, ["sending"], "sent", {
        "provider": "gmail", "provider_ref": "msg-1", "result": {"thread": "t-1", "ids": [1, 2]}, "error": None})
    assert (sent.status, sent.provider, sent.provider_ref, sent.result, sent.error, sent.attempts) == (
        "sent", "gmail", "msg-1", {"thread": "t-1", "ids": [1, 2]}, None, 1)
    assert sent.arguments == row.arguments and sent.created_at == row.created_at  # sealed
    assert store.outbox_transition(alice, row.id, ["sending", "queued"], "failed") is None
    assert store.outbox_get(alice, row.id) == sent

    lapsed, _ = store.outbox_claim(alice, new(arguments={"n": 1}, status="pending_confirmation",
                                              expires_at=time.time() - 1), 600)
    assert store.outbox_transition(alice, lapsed.id, ["pending_confirmation"], "queued", unexpired=True) is None
    expired = store.outbox_transition(alice, lapsed.id, ["pending_confirmation"], "expired")
    assert expired.status == "expired"

    for junk in ("not-a-uuid", str(uuid.uuid4()), ""):
        assert store.outbox_get(alice, junk) is None
        assert store.outbox_transition(alice, junk, ["queued"], "sending") is None


def test_list_is_newest_first_and_limited(store_index) -> None:
    store, _ = store_index
    alice = new_user(store)
    ids = [store.outbox_claim(alice, new(arguments={"n": i}), 600)[0].id for i in range(5)]
    assert [r.id for r in store.outbox_list(alice, 50)] == ids[::-1]
    assert [r.id for r in store.outbox_list(alice, 2)] == ids[:2:-1]


def test_unfinished_is_every_users_stale_queued_or_sending_rows(store_index) -> None:
    store, _ = store_index
    alice, bob = new_user(store), new_user(store)
    queued, _ = store.outbox_claim(alice, new(arguments={"n": 1}), 600)
    sending, _ = store.outbox_claim(bob, new(arguments={"n": 2}), 600)
    store.outbox_transition(bob, sending.id, ["queued"], "sending")
    done, _ = store.outbox_claim(bob, new(arguments={"n": 3}), 600)
    store.outbox_transition(bob, done.id, ["queued"], "sent")
    store.outbox_claim(alice, new(arguments={"n": 4}, status="pending_confirmation", expires_at=time.time() + 300), 600)
    mine = {alice, bob}

    def found(older_than: float) -> dict[str, tuple[str, OutboxRecord]]:
        return {r.id: (u, r) for u, r in store.outbox_unfinished(older_than) if u in mine}

    assert found(time.time() - 3600) == {}  # all of them were touched just now
    later = found(time.time() + 1)
    assert set(later) == {queued.id, sending.id}
    assert later[queued.id][0] == alice and later[sending.id][0] == bob
    assert later[sending.id][1].status == "sending" and later[sending.id][1].arguments == {"n": 2}
    assert later[queued.id][1] == store.outbox_get(alice, queued.id)


def test_voice_key_claims_count_before_the_check_and_lock(store_index) -> None:
    store, _ = store_index
    alice, nobody, now, key = new_user(store), str(uuid.uuid4()), time.time(), "$argon2id$v=19$test"

    def claim(user: str = alice, at: float = now) -> tuple[VoiceKeyState, int | None]:
        return store.claim_voice_key_attempt(user, at, LOCK_AFTER, LOCK_SECONDS)

    for user in (alice, nobody):  # no key (or no such user): refused, nothing counted
        assert (store.voice_key_state(user), claim(user)) == (VoiceKeyState(None, 0, None), (VoiceKeyState(None, 0, None), None))
    store.set_voice_key_hash(alice, key)
    assert store.voice_key_state(alice).hash == key and store.get_user(alice).has_voice_key is True
    first = [claim() for _ in range(LOCK_AFTER - 1)]
    assert [s for s, _ in first] == [VoiceKeyState(key, n, None) for n in range(1, LOCK_AFTER)]
    # The claim that reaches the limit sets the lock itself, before its phrase is even checked.
    locked, number = claim()
    assert [n for _, n in first] + [number] == list(range(first[0][1], first[0][1] + LOCK_AFTER))
    assert locked == VoiceKeyState(key, LOCK_AFTER, now + LOCK_SECONDS) == store.voice_key_state(alice)
    # While locked nothing is handed out or counted; once it runs out, one claim is, and locks again
    # (failures are forgiven by a right phrase only).
    assert claim(at=now + LOCK_SECONDS - 1) == (locked, None)
    later = now + LOCK_SECONDS
    assert claim(at=later) == (VoiceKeyState(key, LOCK_AFTER + 1, later + LOCK_SECONDS), number + 1)
    assert store.forgive_voice_key_failures(alice, number + 1, LOCK_AFTER) == VoiceKeyState(key, 0, None)
    # A right phrase forgives what was claimed up to it, not the guesses claimed after it (still being
    # checked), and keeps a lock those alone reached.
    claims = [claim()[1] for _ in range(LOCK_AFTER)]
    assert store.forgive_voice_key_failures(alice, claims[2], LOCK_AFTER) == VoiceKeyState(key, 2, None)
    late = [claim()[1] for _ in range(3)]
    assert store.forgive_voice_key_failures(alice, claims[0], LOCK_AFTER) == VoiceKeyState(
        key, LOCK_AFTER, now + LOCK_SECONDS) == store.voice_key_state(alice)
    assert store.forgive_voice_key_failures(alice, late[-1], LOCK_AFTER) == VoiceKeyState(key, 0, None)
    claim()
    store.set_voice_key_hash(alice, "$argon2id$v=19$other")  # a new key starts with a clean slate
    assert store.voice_key_state(alice) == VoiceKeyState("$argon2id$v=19$other", 0, None)


def test_two_users_never_see_or_move_each_others_actions(store_index) -> None:
    store, _ = store_index
    alice, bob = new_user(store), new_user(store)
    hers, _ = store.outbox_claim(alice, new(key="shared-key", status="pending_confirmation",
                                            expires_at=time.time() + 300), 600)
    assert store.outbox_get(bob, hers.id) is None and store.outbox_list(bob, 200) == []
    for to_status in ("queued", "cancelled", "expired"):
        assert store.outbox_transition(bob, hers.id, ["pending_confirmation"], to_status) is None
    assert store.outbox_get(alice, hers.id) == hers
    # The same key and the same arguments are Bob's own, new action.
    his, created = store.outbox_claim(bob, new(key="shared-key", status="pending_confirmation",
                                               expires_at=time.time() + 300), 600)
    assert created and his.id != hers.id
    derived, created = store.outbox_claim(bob, new(arguments={"to": ["ana@example.com"], "subject": "Hi"}), 600)
    assert not created and derived.id == his.id  # his, not hers
    assert [r.id for r in store.outbox_list(alice, 200)] == [hers.id]
    # Voice keys and their counters are per user.
    store.set_voice_key_hash(alice, "$argon2id$alice")
    store.set_voice_key_hash(bob, "$argon2id$bob")
    for _ in range(LOCK_AFTER):
        store.claim_voice_key_attempt(bob, time.time(), LOCK_AFTER, LOCK_SECONDS)
    assert store.voice_key_state(alice) == VoiceKeyState("$argon2id$alice", 0, None)
    assert store.voice_key_state(bob).failures == LOCK_AFTER and store.voice_key_state(bob).locked_until
    state, number = store.claim_voice_key_attempt(alice, time.time(), LOCK_AFTER, LOCK_SECONDS)
    assert number is not None and state == VoiceKeyState("$argon2id$alice", 1, None)  # bob's lock is not hers
    store.forgive_voice_key_failures(alice, number, LOCK_AFTER)
    assert store.voice_key_state(bob).failures == LOCK_AFTER


def test_concurrent_claims_insert_once(open_store) -> None:
    # Two handles: on Postgres, two pools (two server processes); on SQLite, two connections per thread.
    one, _ = open_store()
    two, _ = open_store()
    alice = new_user(one)
    args = {"to": ["ana@example.com"], "subject": "Once"}
    same_key = run_together(6, lambda i: (one if i % 2 else two).outbox_claim(alice, new(arguments=args, key="k"), 0))
    assert sum(created for _, created in same_key) == 1 and len({r.id for r, _ in same_key}) == 1
    derived = run_together(6, lambda i: (one if i % 2 else two).outbox_claim(
        alice, new(arguments={"derived": True}, key=f"auto-{i}"), 600))
    assert sum(created for _, created in derived) == 1 and len({r.id for r, _ in derived}) == 1
    assert len(one.outbox_list(alice, 50)) == 2


def test_concurrent_transitions_let_exactly_one_through(open_store) -> None:
    one, _ = open_store()
    two, _ = open_store()
    alice = new_user(one)
    for _ in range(3):
        row, _ = one.outbox_claim(alice, new(arguments={"n": uuid.uuid4().hex}, status="pending_confirmation",
                                             expires_at=time.time() + 300), 600)
        moved = run_together(6, lambda i, rid=row.id: (one if i % 2 else two).outbox_transition(
            alice, rid, ["pending_confirmation"], "queued", unexpired=True))
        assert sum(m is not None for m in moved) == 1
        sending = run_together(6, lambda i, rid=row.id: (one if i % 2 else two).outbox_transition(
            alice, rid, ["queued"], "sending"))
        assert sum(m is not None for m in sending) == 1
        assert one.outbox_get(alice, row.id).attempts == 1


def test_concurrent_claims_hand_out_at_most_the_limit(open_store) -> None:
    # Two handles (two processes): however many race, exactly LOCK_AFTER attempts are handed out.
    one, _ = open_store()
    two, _ = open_store()
    alice = new_user(one)
    one.set_voice_key_hash(alice, "$argon2id$x")
    now = time.time()
    claims = run_together(12, lambda i: (one if i % 2 else two).claim_voice_key_attempt(
        alice, now, LOCK_AFTER, LOCK_SECONDS))
    granted = sorted((state.failures, number) for state, number in claims if number is not None)
    assert [f for f, _ in granted] == list(range(1, LOCK_AFTER + 1)) and len({n for _, n in granted}) == LOCK_AFTER
    assert all(state.locked_until == now + LOCK_SECONDS for state, number in claims if number is None)
    assert one.voice_key_state(alice) == VoiceKeyState("$argon2id$x", LOCK_AFTER, now + LOCK_SECONDS)


def test_postgres_rls_holds_for_the_outbox(backend, store_index) -> None:
    if backend.pg is None:
        pytest.skip("Row Level Security is Postgres's")
    import psycopg

    store, _ = store_index
    alice, bob = new_user(store), new_user(store)
    hers, _ = store.outbox_claim(alice, new(arguments={"secret": "zanzibar"}), 600)
    store.outbox_claim(bob, new(arguments={"mine": True}), 600)
    store.set_voice_key_hash(alice, "$argon2id$alice")
    with psycopg.connect(backend.pg.app_url) as conn:
        conn.execute("SELECT set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": bob}),))
        rows = conn.execute("SELECT user_id::text, arguments::text FROM jarvis.outbox").fetchall()
        assert rows and {r[0] for r in rows} == {bob} and "zanzibar" not in str(rows)
        assert conn.execute("UPDATE jarvis.outbox SET status = 'cancelled' WHERE id = %s", (hers.id,)).rowcount == 0
        assert conn.execute("UPDATE jarvis.users SET voice_key_failures = 99, voice_key_locked_until = 1e12, "
                            "voice_key_claims = 0 "
                            "WHERE id = %s", (alice,)).rowcount == 0
        # The recovery function names actions (user and id) and nothing else: no arguments, no summary.
        found = conn.execute("SELECT * FROM jarvis.outbox_unfinished(%s)", (time.time() + 1,))
        assert [d.name for d in found.description] == ["user_id", "action_id"]
        assert (uuid.UUID(alice), uuid.UUID(hers.id)) in found.fetchall()
    with psycopg.connect(backend.pg.app_url) as conn:  # no claims: nothing
        assert conn.execute("SELECT count(*) FROM jarvis.outbox").fetchone()[0] == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM jarvis.outbox")
    assert store.outbox_get(alice, hers.id).status == "queued"
    assert store.voice_key_state(alice) == VoiceKeyState("$argon2id$alice", 0, None)


def test_the_action_service_over_the_store(open_store) -> None:
    """The whole core on each backend: voice key, pending action, a race of two confirmations from two
    handles (two processes), recovery of what a crash left."""
    from jarvis_mcp.actions.service import ActionRequest, ActionService, ExecutionResult
    from jarvis_mcp.actions.voice_key import VoiceKeyError, VoiceKeyService
    from jarvis_mcp.errors import InvalidInput

    class Counting:
        def __init__(self) -> None:
            self.calls = 0
            self.lock = threading.Lock()

        def execute(self, action_id: str, arguments: dict[str, Any]) -> ExecutionResult:
            with self.lock:
                self.calls += 1
            time.sleep(0.05)
            return ExecutionResult(status="sent", provider="test", provider_ref=f"ref-{action_id}")

    one, _ = open_store()
    two, _ = open_store()
    alice = new_user(one)
    counter = Counting()
    services = [ActionService(alice, s, {"send_email": counter}, VoiceKeyService(alice, s)) for s in (one, two)]
    services[0].voice_key.set("Mi perro, se llama TRUENO!")
    assert one.voice_key_state(alice).hash.startswith("$argon2id$")
    pending = services[0].submit(ActionRequest("send_email", {"to": "x@example.com"}, "Email x", sensitive=("new",)))
    assert pending.status == "pending_confirmation"
    with pytest.raises(VoiceKeyError, match="4 attempts left"):
        services[1].confirm(pending.action_id, "el gato se llama nube")

    def confirm(i: int) -> Any:
        try:
            return services[i % 2].confirm(pending.action_id, "mi perro se llama trueno")
        except InvalidInput as exc:
            return exc.field

    results = run_together(2, confirm)
    assert sorted(r if isinstance(r, str) else r.status for r in results) == ["action_id", "sent"]
    assert counter.calls == 1 and one.voice_key_state(alice).failures == 0
    assert services[1].get(pending.action_id).provider_ref == f"ref-{pending.action_id}"

    row, _ = one.outbox_claim(alice, new(arguments={"crash": 1}), 0)
    assert services[1].recover(row).status == "sent" and services[0].recover(row).status == "sent"
    assert counter.calls == 2
