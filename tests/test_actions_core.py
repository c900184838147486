"""The action core: the voice key, pending confirmations, idempotency, recovery and elicitation.

Through the in-process MCP client where a tool exists; ActionService directly (with counting executors)
for what no tool reaches: races, explicit idempotency keys, recovery of rows a crash left behind.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, types
from mcp.types import CallToolResult

from jarvis_mcp import bootstrap
from jarvis_mcp.actions import service as actions_module
from jarvis_mcp.actions import voice_key as voice_key_module
from jarvis_mcp.actions.ports import NewOutbox, OutboxRecord
from jarvis_mcp.actions.service import (
    PENDING_TTL_S,
    STALE_AFTER_S,
    ActionRequest,
    ActionService,
    ExecutionResult,
    ProviderError,
    args_hash,
)
from jarvis_mcp.actions.voice_key import (
    LOCK_AFTER,
    LOCK_SECONDS,
    VoiceKeyError,
    VoiceKeyService,
    normalize_phrase,
)
from jarvis_mcp.errors import InvalidInput, NotFound
from jarvis_mcp.runtime import SharedRuntime, recover_actions
from jarvis_mcp.scope import UserScope
from jarvis_mcp.server import build_server

PHRASE = "Mi perro, se llama TRUENO!"
SPOKEN = "  mí PERRO se   llamá, trueno. "  # what speech-to-text may hand back for the same phrase
NEW_PHRASE = "la luna brilla sobre el mar"
WRONG = "el gato se llama nube"
MADE_UP_ID = "00000000-0000-4000-8000-000000000000"
_real_time = time.time


class Clock:
    """Stands in for a module's `time`: real time plus an offset the test moves."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return _real_time() + self.offset


@pytest.fixture
def clock_of(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], Clock]:
    def install(module: Any) -> Clock:
        clock = Clock()
        monkeypatch.setattr(module, "time", clock)
        return clock

    return install


# -- helpers --------------------------------------------------------------------------------------


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return result.structured_content


def err(result: CallToolResult) -> str:
    """The tool's error message, without the SDK's "Error executing tool x: " prefix."""
    assert result.is_error, result.structured_content
    return re.sub(r"^Error executing tool \w+: ", "", result.content[0].text)


async def eleven_memories(c: Client) -> list[str]:
    logged = ok(await c.call_tool("log_conversation", {
        "messages": [{"role": "user", "content": f"Turn {i}: the {i * 7}th note about the garden"} for i in range(11)],
    }))
    assert len(logged["memory_ids"]) == 11
    return logged["memory_ids"]


async def pending_forget(c: Client) -> tuple[str, list[str]]:
    """Eleven memories and a pending request to forget them all: (action id, memory ids)."""
    ids = await eleven_memories(c)
    out = ok(await c.call_tool("forget", {"memory_ids": ids}))
    assert out["forgotten"] == [] and out["not_found"] == []
    pending = out["confirmation"]
    assert pending["status"] == "pending_confirmation" and pending["confirmation_required"] is True
    return pending["action_id"], ids


def same_error(for_hers: str, hers: str, for_made_up: str, made_up: str) -> None:
    assert for_hers.replace(hers, "<id>") == for_made_up.replace(made_up, "<id>")


class Counting:
    """An executor that counts its runs (and optionally blocks, fails or reconciles)."""

    def __init__(self, status: str = "completed", *, delay: float = 0.0, gate: threading.Event | None = None,
                 fail: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status = status
        self.delay = delay
        self.gate = gate
        self.fail = fail
        self.lock = threading.Lock()

    def execute(self, action_id: str, arguments: dict[str, Any]) -> ExecutionResult:
        with self.lock:
            self.calls.append(arguments)
        if self.gate is not None:
            assert self.gate.wait(10)
        time.sleep(self.delay)
        if self.fail:
            raise ProviderError("the provider said no (550)")
        return ExecutionResult(status=self.status, provider="test", provider_ref=f"ref-{action_id[:8]}",  # type: ignore[arg-type]
                               result={"n": len(self.calls)})


class Reconciling(Counting):
    def __init__(self, verdict: ExecutionResult | None | Exception) -> None:
        super().__init__()
        self.verdict = verdict
        self.asked = 0

    def reconcile(self, action_id: str, arguments: dict[str, Any]) -> ExecutionResult | None:
        self.asked += 1
        if isinstance(self.verdict, Exception):
            raise self.verdict
        return self.verdict


class Services:
    """ActionService over a real runtime's store, with the test's own executors."""

    def __init__(self, runtime, user: str = "local") -> None:  # noqa: ANN001
        self.rt = runtime(user)
        self.user_id = self.rt.local_user_id()
        self.store = self.rt.store
        self.voice_key = VoiceKeyService(self.user_id, self.store)

    def actions(self, **executors: Any) -> ActionService:
        return ActionService(self.user_id, self.store, executors, self.voice_key)


def stale_row(store: Any, user_id: str, kind: str, arguments: dict[str, Any], status: str,
              clock: Clock, key: str) -> OutboxRecord:
    """A row as a crash leaves it: written (and moved to `status`) long enough ago to count as stale."""
    clock.offset = -(STALE_AFTER_S + 60)
    try:
        record, created = store.outbox_claim(user_id, NewOutbox(
            kind=kind, idempotency_key=key, args_hash=args_hash(kind, arguments), arguments=arguments,
            summary=f"{kind} left behind", sensitive=(), status="queued"), 0)
        assert created
        if status == "sending":
            record = store.outbox_transition(user_id, record.id, ["queued"], "sending")
    finally:
        clock.offset = 0.0
    assert record.status == status and record.updated_at < time.time() - STALE_AFTER_S
    return record


def memory_count(rt: Any) -> int:
    return rt.store.count_memories(rt.local_user_id())


# -- the voice key --------------------------------------------------------------------------------


async def test_weak_phrases_are_refused_naming_phrase(client_for, runtime) -> None:
    async with client_for("alice") as c:
        for weak in ("short one", "a b c d e f g h", "supercalifragilisticexpialidocious", "¡¿ ... !?",
                     "two wordsonly", " ".join(["palabra"] * 40)):
            message = err(await c.call_tool("set_voice_key", {"phrase": weak}))
            assert message.startswith("phrase: "), message
            assert weak not in message
        assert err(await c.call_tool("set_voice_key", {})).lower().count("phrase") >= 1  # required argument
    assert Services(runtime, "alice").voice_key.status().has_voice_key is False  # nothing written


def test_normalisation_folds_case_accents_punctuation_and_spacing() -> None:
    assert normalize_phrase("Mi perro, se llama TRUENO!") == normalize_phrase("mi perro se llama trueno")
    assert normalize_phrase(PHRASE) == normalize_phrase(SPOKEN) == "mi perro se llama trueno"
    assert normalize_phrase("Ñandú_azul — ÉL  va") == "nandu azul el va"
    assert normalize_phrase("mi perro se llama rayo") != normalize_phrase(PHRASE)
    assert normalize_phrase("mi perro se llamatrueno") != normalize_phrase(PHRASE)  # word breaks count


async def test_the_phrase_matches_however_it_is_spoken(client_for) -> None:
    async with client_for("alice") as c:
        status = ok(await c.call_tool("set_voice_key", {"phrase": PHRASE}))
        assert status == {"has_voice_key": True, "locked_until": None, "attempts_left": LOCK_AFTER}
        action_id, _ = await pending_forget(c)
        done = ok(await c.call_tool("confirm_action", {"action_id": action_id, "phrase": SPOKEN}))
        assert done["status"] == "completed" and len(done["result"]["forgotten"]) == 11


async def test_changing_the_voice_key_needs_the_current_phrase(client_for, runtime) -> None:
    svc = Services(runtime, "alice")
    async with client_for("alice") as c:
        ok(await c.call_tool("set_voice_key", {"phrase": PHRASE}))
        first_hash = svc.store.voice_key_state(svc.user_id).hash

        missing = err(await c.call_tool("set_voice_key", {"phrase": NEW_PHRASE}))
        assert missing.startswith("current_phrase: ")
        assert svc.voice_key.status().attempts_left == LOCK_AFTER  # asking without it is no failed attempt

        wrong = err(await c.call_tool("set_voice_key", {"phrase": NEW_PHRASE, "current_phrase": WRONG}))
        assert wrong.startswith("current_phrase: wrong voice key") and f"{LOCK_AFTER - 1} attempts left" in wrong
        assert svc.voice_key.status().attempts_left == LOCK_AFTER - 1  # it counts as a failure
        assert svc.store.voice_key_state(svc.user_id).hash == first_hash  # and changed nothing

        changed = ok(await c.call_tool("set_voice_key", {"phrase": NEW_PHRASE, "current_phrase": SPOKEN}))
        assert changed["attempts_left"] == LOCK_AFTER  # success resets the count

        action_id, _ = await pending_forget(c)
        assert "wrong voice key" in err(await c.call_tool("confirm_action", {"action_id": action_id, "phrase": PHRASE}))
        done = ok(await c.call_tool("confirm_action", {"action_id": action_id, "phrase": NEW_PHRASE.upper()}))
        assert done["status"] == "completed"


async def test_only_an_argon2id_hash_is_stored(client_for, runtime, home: Path) -> None:
    async with client_for("alice") as c:
        ok(await c.call_tool("set_voice_key", {"phrase": PHRASE}))
        ok(await c.call_tool("set_voice_key", {"phrase": NEW_PHRASE, "current_phrase": PHRASE}))
        err(await c.call_tool("set_voice_key", {"phrase": PHRASE, "current_phrase": WRONG}))
        action_id, _ = await pending_forget(c)
        err(await c.call_tool("confirm_action", {"action_id": action_id, "phrase": WRONG}))
        ok(await c.call_tool("confirm_action", {"action_id": action_id, "phrase": NEW_PHRASE}))

    svc = Services(runtime, "alice")
    (stored,) = svc.store.db.conn.execute("SELECT voice_key_hash FROM users WHERE id = ?", (svc.user_id,)).fetchone()
    assert stored.startswith("$argon2id$")
    secrets = {p for phrase in (PHRASE, NEW_PHRASE, WRONG) for p in (phrase, normalize_phrase(phrase))}
    # Every file the server wrote: the database, its WAL, anything else under the home folder.
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name == "jarvis.db" for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            for encoded in (secret.encode(), secret.encode("utf-16-le")):
                assert encoded not in data, (path, secret)

    audit = svc.store.db.conn.execute(
        "SELECT tool, arguments, error FROM actions WHERE user_id = ? AND tool IN ('set_voice_key', 'confirm_action')",
        (svc.user_id,)).fetchall()
    assert len(audit) == 5
    for _tool, arguments, error in audit:
        text = f"{arguments} {error}"
        assert all(secret not in text for secret in secrets), text
        assert "[redacted]" in arguments
    assert any(json.loads(a).get("current_phrase") == "[redacted]" for _, a, _ in audit)


async def test_five_wrong_phrases_lock_the_key(client_for, runtime, clock_of) -> None:
    svc = Services(runtime, "alice")
    async with client_for("alice") as c:
        ok(await c.call_tool("set_voice_key", {"phrase": PHRASE}))
        action_id, ids = await pending_forget(c)

        for left in range(LOCK_AFTER - 1, 0, -1):
            message = err(await c.call_tool("confirm_action", {"action_id": action_id, "phrase": WRONG}))
            assert message == f"phrase: wrong voice key ({left} attempts left before a lock)"
        started = time.time()
        locked = err(await c.call_tool("confirm_action", {"action_id": action_id, "phrase": WRONG}))
        match = re.fullmatch(r"phrase: wrong voice key; locked until (\S+)", locked)
        assert match, locked
        until = datetime.fromisoformat(match.group(1)).timestamp()
        assert started + LOCK_SECONDS - 2 <= until <= time.time() + LOCK_SECONDS + 1
        status = svc.voice_key.status()
        assert status.attempts_left == 0 and status.locked_until is not None

        # The right phrase is refused while locked, and does not count either way.
        refused = err(await c.call_tool("confirm_action", {"action_id": action_id, "phrase": PHRASE}))
        assert refused.startswith(f"voice key locked after {LOCK_AFTER} wrong attempts until ")
        assert svc.store.voice_key_state(svc.user_id).failures == LOCK_AFTER
        assert ok(await c.call_tool("get_action", {"action_id": action_id}))["status"] == "pending_confirmation"
        assert memory_count(svc.rt) == 11
        # Changing the key is locked too.
        assert "locked" in err(await c.call_tool("set_voice_key", {"phrase": NEW_PHRASE, "current_phrase": PHRASE}))

        clock_of(voice_key_module).offset = LOCK_SECONDS + 1  # the lock has run out
        done = ok(await c.call_tool("confirm_action", {"action_id": action_id, "phrase": PHRASE}))
        assert done["status"] == "completed" and sorted(done["result"]["forgotten"]) == sorted(ids)
        state = svc.store.voice_key_state(svc.user_id)
        assert state.failures == 0 and state.locked_until is None  # reset after success


async def test_a_success_resets_the_count(client_for, runtime) -> None:
    svc = Services(runtime, "alice")
    async with client_for("alice") as c:
        ok(await c.call_tool("set_voice_key", {"phrase": PHRASE}))
        action_id, _ = await pending_forget(c)
        for _ in range(LOCK_AFTER - 1):
            err(await c.call_tool("confirm_action", {"action_id": action_id, "phrase": WRONG}))
        ok(await c.call_tool("confirm_action", {"action_id": action_id, "phrase": PHRASE}))
    assert svc.voice_key.status().attempts_left == LOCK_AFTER
    with pytest.raises(VoiceKeyError, match=rf"\({LOCK_AFTER - 1} attempts left"):
        svc.voice_key.verify(WRONG)  # counting starts over: not locked by the earlier four


def test_without_a_voice_key_the_user_is_told_how_to_set_one(runtime) -> None:
    svc = Services(runtime)
    counter = Counting()
    actions = svc.actions(count=counter)
    pending = actions.submit(ActionRequest("count", {"n": 1}, "Count once", sensitive=("test",)))
    assert "set_voice_key" in (pending.how_to_confirm or "")
    with pytest.raises(VoiceKeyError, match="no voice key is set.*set_voice_key"):
        actions.confirm(pending.action_id, PHRASE)
    assert counter.calls == [] and actions.get(pending.action_id).status == "pending_confirmation"


# -- pending actions ------------------------------------------------------------------------------


async def test_bulk_forget_waits_for_confirmation_and_runs_once(client_for, runtime) -> None:
    svc = Services(runtime, "alice")
    async with client_for("alice") as c:
        ok(await c.call_tool("set_voice_key", {"phrase": PHRASE}))
        action_id, ids = await pending_forget(c)
        assert memory_count(svc.rt) == 11  # nothing deleted yet
        pending = ok(await c.call_tool("get_action", {"action_id": action_id}))
        assert pending["summary"] == "Permanently delete 11 memories" and pending["expires_at"]
        assert "set_voice_key" not in pending["how_to_confirm"]  # she has one

        # Ten at once need no confirmation.
        few = ok(await c.call_tool("forget", {"memory_ids": [MADE_UP_ID] * 10}))
        assert few["confirmation"] is None

        done = ok(await c.call_tool("confirm_action", {"action_id": action_id, "phrase": PHRASE}))
        assert done["status"] == "completed" and done["confirmation_required"] is False
        assert sorted(done["result"]["forgotten"]) == sorted(ids) and done["provider"] == "store"
        assert memory_count(svc.rt) == 0
        assert svc.store.outbox_get(svc.user_id, action_id).attempts == 1

        # Single use: a replayed confirmation is refused and runs nothing.
        replay = err(await c.call_tool("confirm_action", {"action_id": action_id, "phrase": PHRASE}))
        assert replay == "action_id: nothing to confirm: the action is completed (confirmations are single-use)"
        assert svc.store.outbox_get(svc.user_id, action_id).attempts == 1

        listed = ok(await c.call_tool("list_actions", {}))["actions"]
        assert [a["action_id"] for a in listed] == [action_id] and listed[0]["status"] == "completed"
        outbox = json.loads((await c.read_resource("jarvis://me/outbox")).contents[0].text)
        assert [a["action_id"] for a in outbox["actions"]] == [action_id]
        assert "limit: must be between 1 and 200" in err(await c.call_tool("list_actions", {"limit": 0}))


async def test_an_expired_confirmation_is_refused_and_marked_expired(client_for, runtime, clock_of) -> None:
    svc = Services(runtime, "alice")
    async with client_for("alice") as c:
        ok(await c.call_tool("set_voice_key", {"phrase": PHRASE}))
        action_id, ids = await pending_forget(c)
        clock_of(actions_module).offset = PENDING_TTL_S + 1
        expired = err(await c.call_tool("confirm_action", {"action_id": action_id, "phrase": PHRASE}))
        assert expired == "action_id: the confirmation window has expired; ask for the action again"
        assert ok(await c.call_tool("get_action", {"action_id": action_id}))["status"] == "expired"
        assert memory_count(svc.rt) == 11 and svc.store.outbox_get(svc.user_id, action_id).attempts == 0
        again = err(await c.call_tool("confirm_action", {"action_id": action_id, "phrase": PHRASE}))
        assert "the action is expired" in again
        # Asking again (the same ids) makes a new pending action, not a replay of the expired one.
        fresh = ok(await c.call_tool("forget", {"memory_ids": ids}))
        assert fresh["confirmation"]["action_id"] != action_id and fresh["confirmation"]["replayed"] is False


async def test_a_cancelled_action_cannot_be_confirmed(client_for, runtime) -> None:
    svc = Services(runtime, "alice")
    async with client_for("alice") as c:
        ok(await c.call_tool("set_voice_key", {"phrase": PHRASE}))
        action_id, ids = await pending_forget(c)
        cancelled = ok(await c.call_tool("cancel_action", {"action_id": action_id}))
        assert cancelled["status"] == "cancelled" and cancelled["delivered"] is False
        refused = err(await c.call_tool("confirm_action", {"action_id": action_id, "phrase": PHRASE}))
        assert refused == "action_id: nothing to confirm: the action is cancelled (confirmations are single-use)"
        assert err(await c.call_tool("cancel_action", {"action_id": action_id})) == \
            "action_id: cannot cancel: the action is cancelled"
        assert err(await c.call_tool("cancel_action", {"action_id": MADE_UP_ID})) == f"action not found: {MADE_UP_ID}"
        assert memory_count(svc.rt) == 11
        # Asking again after cancelling is a new request, not the cancelled one replayed.
        again = ok(await c.call_tool("forget", {"memory_ids": ids}))["confirmation"]
        assert again["action_id"] != action_id and again["status"] == "pending_confirmation"
        # A retry of that one within the window is the same action.
        retry = ok(await c.call_tool("forget", {"memory_ids": ids}))["confirmation"]
        assert retry["action_id"] == again["action_id"] and retry["replayed"] is True


def test_two_threads_confirming_at_once_run_it_once(runtime) -> None:
    svc = Services(runtime)
    svc.voice_key.set(PHRASE)
    counter = Counting(delay=0.05)
    actions = svc.actions(count=counter)

    def confirm(action_id: str, barrier: threading.Barrier, results: list[Any]) -> None:
        barrier.wait()
        try:
            results.append(actions.confirm(action_id, PHRASE))
        except InvalidInput as exc:
            results.append(exc)

    for round_ in range(3):
        pending = actions.submit(ActionRequest("count", {"round": round_}, "Count once", sensitive=("test",)))
        barrier = threading.Barrier(2)
        results: list[Any] = []
        threads = [threading.Thread(target=confirm, args=(pending.action_id, barrier, results)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        done = [r for r in results if not isinstance(r, Exception)]
        refused = [r for r in results if isinstance(r, InvalidInput)]
        assert len(done) == 1 and len(refused) == 1, results
        assert done[0].status == "completed" and refused[0].field == "action_id"
    assert len(counter.calls) == 3  # once per round


def test_two_identical_submits_at_once_insert_one_action(runtime) -> None:
    svc = Services(runtime)
    counter = Counting(delay=0.05)
    actions = svc.actions(count=counter)
    barrier = threading.Barrier(4)
    results: list[Any] = []

    def submit() -> None:
        barrier.wait()
        results.append(actions.submit(ActionRequest("count", {"to": "ana"}, "Count")))

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len({r.action_id for r in results}) == 1 and sum(not r.replayed for r in results) == 1
    assert len(counter.calls) == 1 and len(svc.store.outbox_list(svc.user_id, 10)) == 1


# -- idempotency ----------------------------------------------------------------------------------


def test_an_explicit_key_is_the_identity_of_the_action(runtime) -> None:
    svc = Services(runtime)
    counter = Counting(status="sent")
    actions = svc.actions(count=counter)
    first = actions.submit(ActionRequest("count", {"to": ("ana", "jon")}, "Count", idempotency_key="k-1"))
    assert first.status == "sent" and first.delivered is True and first.replayed is False
    # A tuple comes back from JSON a list: still the same arguments.
    second = actions.submit(ActionRequest("count", {"to": ["ana", "jon"]}, "Count", idempotency_key="k-1"))
    assert second.action_id == first.action_id and second.replayed is True and second.status == "sent"
    assert len(counter.calls) == 1 and len(svc.store.outbox_list(svc.user_id, 10)) == 1

    with pytest.raises(InvalidInput, match="^idempotency_key: was already used for a different action$"):
        actions.submit(ActionRequest("count", {"to": ["eve"]}, "Count", idempotency_key="k-1"))
    with pytest.raises(InvalidInput, match="^idempotency_key: "):
        actions.submit(ActionRequest("count", {"to": ["eve"]}, "Count", idempotency_key="k" * 201))
    # Another key with the same arguments is another action: the caller said so.
    other = actions.submit(ActionRequest("count", {"to": ["ana", "jon"]}, "Count", idempotency_key="k-2"))
    assert other.action_id != first.action_id and len(counter.calls) == 2


def test_a_derived_key_replays_within_the_window(runtime, clock_of, store_clock) -> None:
    svc = Services(runtime)
    counter = Counting()
    actions = svc.actions(count=counter)
    first = actions.submit(ActionRequest("count", {"to": "ana"}, "Count"))
    again = actions.submit(ActionRequest("count", {"to": "ana"}, "Count"))
    assert again.action_id == first.action_id and again.replayed is True and len(counter.calls) == 1
    different = actions.submit(ActionRequest("count", {"to": "jon"}, "Count"))
    assert different.action_id != first.action_id and len(counter.calls) == 2

    # Later than the window, for the service and the store alike.
    clock_of(actions_module).offset = store_clock.offset = actions_module.DERIVED_KEY_WINDOW_S + 5
    later = actions.submit(ActionRequest("count", {"to": "ana"}, "Count"))
    assert later.action_id != first.action_id and later.replayed is False and len(counter.calls) == 3


def test_a_derived_key_never_replays_an_action_that_did_not_act(runtime, clock_of, store_clock) -> None:
    svc = Services(runtime)
    failing = Counting(fail=True)
    actions = svc.actions(flaky=failing, count=Counting())
    failed = actions.submit(ActionRequest("flaky", {"to": "ana"}, "Flaky"))
    assert failed.status == "failed" and failed.error == "the provider said no (550)" and failed.delivered is False
    retried = actions.submit(ActionRequest("flaky", {"to": "ana"}, "Flaky"))
    assert retried.action_id != failed.action_id and len(failing.calls) == 2

    pending = actions.submit(ActionRequest("count", {"n": 1}, "Count", sensitive=("test",)))
    # Past its window but not yet marked expired.
    clock_of(actions_module).offset = store_clock.offset = PENDING_TTL_S + 1
    fresh = actions.submit(ActionRequest("count", {"n": 1}, "Count", sensitive=("test",)))
    assert fresh.action_id != pending.action_id and fresh.status == "pending_confirmation"


def test_always_confirm_makes_a_kind_wait(runtime) -> None:
    svc = Services(runtime)
    counter = Counting()
    actions = ActionService(svc.user_id, svc.store, {"count": counter}, svc.voice_key, always_confirm=("count",))
    out = actions.submit(ActionRequest("count", {"n": 1}, "Count"))
    assert out.status == "pending_confirmation" and out.reasons == ["your settings ask to confirm every count"]
    assert counter.calls == []


# -- recovery -------------------------------------------------------------------------------------


@pytest.fixture
def store_clock(clock_of) -> Clock:
    from jarvis_mcp.adapters.sqlite import outbox

    return clock_of(outbox)


def test_recover_runs_a_queued_row_once(runtime, store_clock) -> None:
    svc = Services(runtime)
    counter = Counting()
    actions = svc.actions(count=counter)
    row = stale_row(svc.store, svc.user_id, "count", {"n": 1}, "queued", store_clock, "crash-1")
    done = actions.recover(row)
    assert done.status == "completed" and len(counter.calls) == 1
    again = actions.recover(row)  # a second sweep with the same (old) snapshot
    assert again.status == "completed" and len(counter.calls) == 1
    assert svc.store.outbox_get(svc.user_id, row.id).attempts == 1


def test_recover_never_resends_a_row_left_sending(runtime, store_clock) -> None:
    svc = Services(runtime)
    counter = Counting()
    actions = svc.actions(count=counter)
    row = stale_row(svc.store, svc.user_id, "count", {"n": 1}, "sending", store_clock, "crash-2")
    out = actions.recover(row)
    assert out.status == "unknown" and out.delivered is None and "confirm_action" in out.how_to_confirm
    assert out.error is not None and out.error.startswith("interrupted while sending")
    assert counter.calls == []
    assert actions.recover(row).status == "unknown" and counter.calls == []


def test_recover_asks_the_provider_what_happened(runtime, store_clock) -> None:
    svc = Services(runtime)
    told = Reconciling(ExecutionResult(status="sent", provider="test", provider_ref="msg-42"))
    row = stale_row(svc.store, svc.user_id, "count", {"n": 1}, "sending", store_clock, "crash-3")
    out = svc.actions(count=told).recover(row)
    assert (out.status, out.provider_ref, out.delivered) == ("sent", "msg-42", True)
    assert told.asked == 1 and told.calls == []

    # The provider cannot be reached: the row stays as it is for a later sweep, nothing is guessed.
    down = Reconciling(RuntimeError("connection refused"))
    row = stale_row(svc.store, svc.user_id, "count", {"n": 2}, "sending", store_clock, "crash-4")
    assert svc.actions(count=down).recover(row).status == "sending" and down.calls == []


def test_get_recovers_a_stale_action_lazily(runtime, store_clock) -> None:
    svc = Services(runtime)
    counter = Counting()
    actions = svc.actions(count=counter)
    queued = stale_row(svc.store, svc.user_id, "count", {"n": 1}, "queued", store_clock, "lazy-1")
    sending = stale_row(svc.store, svc.user_id, "count", {"n": 2}, "sending", store_clock, "lazy-2")
    fresh, _ = svc.store.outbox_claim(svc.user_id, NewOutbox(
        kind="count", idempotency_key="lazy-3", args_hash=args_hash("count", {"n": 3}), arguments={"n": 3},
        summary="just written", sensitive=(), status="queued"), 0)

    assert actions.get(queued.id).status == "completed" and len(counter.calls) == 1
    assert actions.get(sending.id).status == "unknown" and len(counter.calls) == 1
    assert actions.get(fresh.id).status == "queued" and len(counter.calls) == 1  # may be running right now
    assert actions.get(queued.id).status == "completed" and len(counter.calls) == 1


def test_start_up_recovers_every_users_stale_actions_in_the_background(
        runtime, settings_for, embedder, store_clock, monkeypatch, caplog) -> None:
    alice, bob = Services(runtime, "alice"), Services(runtime, "bob")
    gate = threading.Event()
    counters = {alice.user_id: Counting(gate=gate), bob.user_id: Counting(gate=gate)}
    monkeypatch.setattr(UserScope, "executors", lambda self: {"count": counters[self.user_id]})
    secret = {"to": "ana@example.com", "body": "the zanzibar secret"}
    hers = stale_row(alice.store, alice.user_id, "count", secret, "queued", store_clock, "boot-1")
    his = stale_row(bob.store, bob.user_id, "count", {"n": 1}, "queued", store_clock, "boot-2")
    cut = stale_row(bob.store, bob.user_id, "count", {"n": 2}, "sending", store_clock, "boot-3")

    caplog.set_level("INFO", logger="jarvis_mcp.runtime")
    shared = SharedRuntime(settings_for("alice"), functools.partial(bootstrap.open_runtime, embedder=embedder))
    started = time.perf_counter()
    rt = shared.acquire()
    try:
        assert time.perf_counter() - started < 5 and shared.recovery is not None
        assert shared.recovery.daemon and shared.recovery.is_alive()  # blocked in an executor: start-up was not
        gate.set()
        shared.recovery.join(30)
        assert not shared.recovery.is_alive()
        assert rt.store.outbox_get(alice.user_id, hers.id).status == "completed"
        assert rt.store.outbox_get(bob.user_id, his.id).status == "completed"
        assert rt.store.outbox_get(bob.user_id, cut.id).status == "unknown"
        assert len(counters[alice.user_id].calls) == 1 and len(counters[bob.user_id].calls) == 1
    finally:
        shared.release()
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "jarvis_mcp.runtime")
    for row in (hers, his, cut):
        assert row.id in logged
    assert "zanzibar" not in logged and "ana@example.com" not in logged
    assert recover_actions(alice.rt) == 0  # nothing left


def test_a_read_only_server_recovers_nothing(runtime, settings_for, embedder, store_clock, monkeypatch) -> None:
    svc = Services(runtime)
    counter = Counting()
    monkeypatch.setattr(UserScope, "executors", lambda self: {"count": counter})
    row = stale_row(svc.store, svc.user_id, "count", {"n": 1}, "queued", store_clock, "ro-1")
    shared = SharedRuntime(settings_for(), functools.partial(bootstrap.open_runtime, embedder=embedder), recover=False)
    shared.acquire()
    shared.release()
    assert shared.recovery is None and counter.calls == []
    assert svc.store.outbox_get(svc.user_id, row.id).status == "queued"


# -- elicitation ----------------------------------------------------------------------------------


def answering(action: str, content: dict[str, Any] | None, asked: list[types.ElicitRequestParams]):  # noqa: ANN201
    async def callback(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params)
        return types.ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    return callback


async def test_elicitation_accepting_runs_it(settings_for, embedder, runtime) -> None:
    asked: list[types.ElicitRequestParams] = []
    server = build_server(settings_for("alice"), embedder=embedder)
    async with Client(server, elicitation_callback=answering("accept", {"confirm": True}, asked)) as c:
        action_id, ids = await pending_forget(c)
        done = ok(await c.call_tool("confirm_action", {"action_id": action_id}))
        assert done["status"] == "completed" and sorted(done["result"]["forgotten"]) == sorted(ids)
        assert len(asked) == 1 and "Permanently delete 11 memories" in asked[0].message
        # The dialog asks yes/no only: never the voice key (the spec forbids secrets in forms).
        assert set(asked[0].requested_schema["properties"]) == {"confirm"}
        # Nothing left to confirm: no dialog, and the reason.
        assert "completed" in err(await c.call_tool("confirm_action", {"action_id": action_id}))
        assert len(asked) == 1
    assert memory_count(Services(runtime, "alice").rt) == 0


@pytest.mark.parametrize("action, content", [("decline", None), ("cancel", None), ("accept", {"confirm": False})])
async def test_elicitation_declining_cancels_it(settings_for, embedder, runtime, action, content) -> None:
    asked: list[types.ElicitRequestParams] = []
    server = build_server(settings_for("alice"), embedder=embedder)
    async with Client(server, elicitation_callback=answering(action, content, asked)) as c:
        action_id, _ = await pending_forget(c)
        out = ok(await c.call_tool("confirm_action", {"action_id": action_id}))
        assert out["status"] == "cancelled" and len(asked) == 1
    assert memory_count(Services(runtime, "alice").rt) == 11


async def test_a_phrase_is_used_even_where_the_client_could_ask(settings_for, embedder) -> None:
    asked: list[types.ElicitRequestParams] = []
    server = build_server(settings_for("alice"), embedder=embedder)
    async with Client(server, elicitation_callback=answering("accept", {"confirm": True}, asked)) as c:
        ok(await c.call_tool("set_voice_key", {"phrase": PHRASE}))
        action_id, _ = await pending_forget(c)
        assert "wrong voice key" in err(await c.call_tool("confirm_action", {"action_id": action_id, "phrase": WRONG}))
        assert asked == []  # a wrong phrase never falls back to the dialog


async def test_without_elicitation_a_phrase_is_needed(client_for, runtime, clock_of) -> None:
    async with client_for("alice") as c:
        action_id, _ = await pending_forget(c)
        message = err(await c.call_tool("confirm_action", {"action_id": action_id}))
        assert message.startswith("phrase: ") and "confirmation dialog" in message
        assert ok(await c.call_tool("get_action", {"action_id": action_id}))["status"] == "pending_confirmation"
        assert err(await c.call_tool("confirm_action", {"action_id": MADE_UP_ID})) == f"action not found: {MADE_UP_ID}"
        clock_of(actions_module).offset = PENDING_TTL_S + 1
        assert "expired" in err(await c.call_tool("confirm_action", {"action_id": action_id}))
    assert memory_count(Services(runtime, "alice").rt) == 11


# -- two users ------------------------------------------------------------------------------------


async def test_bob_cannot_touch_alices_actions(client_for, settings_for, embedder, runtime) -> None:
    alice_svc = Services(runtime, "alice")
    async with client_for("alice") as alice, client_for("bob") as bob:
        ok(await alice.call_tool("set_voice_key", {"phrase": PHRASE}))
        hers, _ = await pending_forget(alice)
        ok(await bob.call_tool("set_voice_key", {"phrase": NEW_PHRASE}))  # his own first key: no current needed

        for tool, args in (("get_action", {}), ("cancel_action", {}), ("confirm_action", {"phrase": PHRASE}),
                           ("confirm_action", {"phrase": NEW_PHRASE}), ("confirm_action", {})):
            theirs = err(await bob.call_tool(tool, {"action_id": hers, **args}))
            made_up = err(await bob.call_tool(tool, {"action_id": MADE_UP_ID, **args}))
            same_error(theirs, hers, made_up, MADE_UP_ID)
            assert theirs == f"action not found: {hers}", (tool, args)
        assert ok(await bob.call_tool("list_actions", {"limit": 200}))["actions"] == []
        outbox = (await bob.read_resource("jarvis://me/outbox")).contents[0].text
        assert json.loads(outbox)["actions"] == [] and hers not in outbox

        # Bob's attempts neither counted against Alice's key nor moved her action.
        assert alice_svc.voice_key.status().attempts_left == LOCK_AFTER
        assert ok(await alice.call_tool("get_action", {"action_id": hers}))["status"] == "pending_confirmation"
        done = ok(await alice.call_tool("confirm_action", {"action_id": hers, "phrase": PHRASE}))
        assert done["status"] == "completed"

    # An elicitation-capable Bob is never shown Alice's summary.
    asked: list[types.ElicitRequestParams] = []
    async with client_for("alice") as alice:
        again, _ = await pending_forget(alice)
    server = build_server(settings_for("bob"), embedder=embedder)
    async with Client(server, elicitation_callback=answering("accept", {"confirm": True}, asked)) as bob:
        assert err(await bob.call_tool("confirm_action", {"action_id": again})) == f"action not found: {again}"
    assert asked == []
    assert alice_svc.store.outbox_get(alice_svc.user_id, again).status == "pending_confirmation"


def test_services_of_two_users_share_nothing(runtime) -> None:
    alice, bob = Services(runtime, "alice"), Services(runtime, "bob")
    alice.voice_key.set(PHRASE)
    counter = Counting()
    hers = alice.actions(count=counter).submit(ActionRequest("count", {"n": 1}, "Count", sensitive=("t",),
                                                             idempotency_key="shared-key"))
    his_actions = bob.actions(count=counter)
    for attempt in (lambda: his_actions.get(hers.action_id), lambda: his_actions.cancel(hers.action_id),
                    lambda: his_actions.confirm(hers.action_id, PHRASE),
                    lambda: his_actions.confirm_by_person(hers.action_id, True)):
        with pytest.raises(NotFound):
            attempt()
    assert his_actions.pending_summary(hers.action_id) is None and his_actions.list() == []
    # The same explicit key is Bob's own, unrelated action.
    his = his_actions.submit(ActionRequest("count", {"n": 1}, "Count", idempotency_key="shared-key"))
    assert his.action_id != hers.action_id and his.replayed is False and his.status == "completed"
    assert alice.actions(count=counter).get(hers.action_id).status == "pending_confirmation"
    # Bob never set a key: Alice's is not his.
    with pytest.raises(VoiceKeyError, match="no voice key is set"):
        bob.voice_key.verify(PHRASE)


def test_a_pending_action_expires_after_its_window(runtime) -> None:
    svc = Services(runtime)
    out = svc.actions(count=Counting()).submit(ActionRequest("count", {"n": 1}, "Count", sensitive=("t",)))
    assert out.created_at.tzinfo == UTC and out.expires_at is not None
    assert abs((out.expires_at - out.created_at).total_seconds() - PENDING_TTL_S) < 1
