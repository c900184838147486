"""Parallel voice-key guesses cannot get past the lockout (issue 15, finding 2).

Every attempt is claimed in the store, atomically, before its phrase is hashed: however many calls race,
in however many processes, at most LOCK_AFTER phrases are checked per lockout window. Service level on
SQLite and Postgres (two store handles: two processes) with the hasher counted, then over HTTP against two
real `jarvis-mcp serve` processes sharing one store.
"""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import anyio
import httpx2 as httpx
import pytest
from argon2 import PasswordHasher
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pgtest import fresh_database, system_cluster
from servers import Server, http_server

from jarvis_mcp.actions import voice_key as voice_key_module
from jarvis_mcp.actions.voice_key import LOCK_AFTER, VoiceKeyError, VoiceKeyService
from jarvis_mcp.config import Settings
from jarvis_mcp.tokens import issue_token

PHRASE = "Mi perro, se llama TRUENO!"
HASHED_PHRASE = "mi perro se llama trueno"  # what reaches the hasher: the normalised phrase
WRONG = [f"el gato numero {i} se llama nube" for i in range(30)]
LOCKED = re.compile(rf"voice key locked after {LOCK_AFTER} wrong attempts until \S+")
CHECKED_WRONG = re.compile(r"phrase: wrong voice key( \(\d attempts left before a lock\)|; locked until \S+)")
SECRET = "voice-key-race-secret-" + "x" * 32
GATE_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 90


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """How to open a store handle, and the server settings for the same data."""
    if request.param == "sqlite":
        from jarvis_mcp.adapters.sqlite import SqliteStore

        home = tmp_path_factory.mktemp("voice-key-race")
        yield {"open": lambda: SqliteStore(home / "jarvis.db"), "home": home, "env": {}}
        return
    from jarvis_mcp.adapters.postgres import open_postgres

    with fresh_database(system_cluster()) as db:
        yield {"open": lambda: open_postgres(db.app_url, vector_index="numpy", pool_size=6)[0], "home": None,
               "env": {"JARVIS_STORE": "postgres", "JARVIS_DATABASE_URL": db.app_url}}


# -- the service, with the hasher counted -----------------------------------------------------------


class GatedHasher:
    """Counts the phrases hashed, and holds each check until every racing call has either reached the
    hasher or come back without it: no check can finish (and record or forgive) before all have been
    let in or turned away, which is the widest race the lockout has to survive."""

    def __init__(self, racers: int) -> None:
        # Cheap parameters for the test's own key; verify() reads them from the stored hash.
        self.real = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
        self.racers = racers
        self.checked: list[str] = []
        self.settled = 0
        self.cond = threading.Condition()
        self.mine = threading.local()

    def hash(self, phrase: str) -> str:
        return self.real.hash(phrase)

    def verify(self, key_hash: str, phrase: str) -> bool:
        self.mine.hashed = True
        with self.cond:
            self.checked.append(phrase)
            self._settle()
            self.cond.wait_for(lambda: self.settled >= self.racers, GATE_TIMEOUT_S)
        return self.real.verify(key_hash, phrase)

    def came_back(self) -> None:
        if not getattr(self.mine, "hashed", False):
            with self.cond:
                self._settle()

    def _settle(self) -> None:
        self.settled += 1
        self.cond.notify_all()


def race(hasher: GatedHasher, calls: list[Callable[[], None]]) -> list[Exception | None]:
    """All calls released at once, each in its own thread; what each raised (None: it passed)."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Exception | None] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            calls[i]()
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            outcomes[i] = exc
        finally:
            hasher.came_back()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(GATE_TIMEOUT_S * 2)
    assert not any(t.is_alive() for t in threads)
    return outcomes


@pytest.fixture
def services(backend: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], tuple]]:
    """`hasher, (svc_a, svc_b) = services(racers)`: one user with a voice key, seen through two store
    handles (what two server processes would see)."""
    stores: list[Any] = []

    def make(racers: int) -> tuple[GatedHasher, list[VoiceKeyService]]:
        hasher = GatedHasher(racers)
        monkeypatch.setattr(voice_key_module, "_HASHER", hasher)
        stores.extend([backend["open"](), backend["open"]()])
        user = stores[0].user_for_identity("https://idp.test", f"race-{uuid.uuid4()}", "local", None)
        pair = [VoiceKeyService(user, s) for s in stores[-2:]]
        pair[0].set(PHRASE)
        return hasher, pair

    yield make
    for store in stores:
        store.close()


def test_the_right_phrase_among_eleven_wrong_is_checked_only_if_counted_in_time(services) -> None:
    hasher, pair = services(12)
    phrases = WRONG[:11]
    phrases.insert(6, PHRASE)
    outcomes = race(hasher, [lambda i=i, p=p: pair[i % 2].verify(p) for i, p in enumerate(phrases)])

    assert len(hasher.checked) == LOCK_AFTER, hasher.checked  # today: all twelve were checked
    right = outcomes[6]
    if HASHED_PHRASE in hasher.checked:
        assert right is None  # counted among the first five: it is accepted
    else:
        assert isinstance(right, VoiceKeyError) and LOCKED.fullmatch(str(right)), right
    for phrase, outcome in zip(phrases, outcomes, strict=True):
        if phrase == PHRASE:
            continue
        assert isinstance(outcome, VoiceKeyError)
        assert CHECKED_WRONG.fullmatch(str(outcome)) if phrase in hasher.checked else LOCKED.fullmatch(str(outcome)), (
            phrase, outcome)
    if HASHED_PHRASE not in hasher.checked:
        status = pair[1].status()
        assert status.locked_until is not None and status.attempts_left == 0


def test_a_burst_of_wrong_phrases_gets_exactly_five_checked(services) -> None:
    hasher, pair = services(25)
    outcomes = race(hasher, [lambda i=i: pair[i % 2].verify(WRONG[i]) for i in range(25)])

    assert len(hasher.checked) == LOCK_AFTER, len(hasher.checked)  # today: 25 (or 24)
    messages = [str(o) for o in outcomes]
    assert sum(bool(CHECKED_WRONG.fullmatch(m)) for m in messages) == LOCK_AFTER
    assert sum(bool(LOCKED.fullmatch(m)) for m in messages) == 25 - LOCK_AFTER
    # The lock holds afterwards: the right phrase is not even checked, and changing the key is refused.
    with pytest.raises(VoiceKeyError, match=LOCKED.pattern):
        pair[0].verify(PHRASE)
    with pytest.raises(VoiceKeyError, match="locked"):
        pair[1].set("la luna brilla sobre el mar", current_phrase=PHRASE)
    assert len(hasher.checked) == LOCK_AFTER


def test_a_right_phrase_still_resets_the_count(services) -> None:
    hasher, pair = services(1)
    for n in range(LOCK_AFTER - 1):
        with pytest.raises(VoiceKeyError, match=rf"\({LOCK_AFTER - 1 - n} attempts left"):
            pair[n % 2].verify(WRONG[n])
    pair[0].verify(PHRASE.upper())
    assert pair[1].status().attempts_left == LOCK_AFTER
    pair[1].set("la luna brilla sobre el mar", current_phrase=PHRASE)  # set_voice_key's check still works
    with pytest.raises(VoiceKeyError, match=rf"current_phrase: wrong voice key \({LOCK_AFTER - 1} attempts left"):
        pair[0].set(PHRASE, current_phrase=PHRASE)
    assert len(hasher.checked) == LOCK_AFTER + 2


# -- over HTTP: two real server processes on one store ----------------------------------------------


@pytest.fixture(scope="module")
def servers(backend: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    env = {"JARVIS_JWT_SECRET": SECRET, **backend["env"]}
    home = tmp_path_factory.mktemp("voice-key-http") / "home" if backend["home"] is not None else None
    with ExitStack() as stack:
        a = stack.enter_context(http_server(env, home=home))
        b = stack.enter_context(http_server(env, home=home))
        yield a, b


async def _call(server: Server, token: str, tool: str, args: dict[str, Any]) -> tuple[bool, Any]:
    async with (
        httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=CALL_TIMEOUT_S) as http,
        Client(streamable_http_client(server.mcp_url, http_client=http)) as client,
    ):
        result = await client.call_tool(tool, args)
    return result.is_error, result.content[0].text if result.is_error else result.structured_content


async def _pending_action(servers: tuple[Server, Server]) -> tuple[str, str]:
    """A fresh user with a voice key and a pending bulk forget: (bearer token, action id)."""
    token = issue_token(Settings(jwt_secret=SECRET), subject=f"race-{uuid.uuid4().hex[:12]}")
    failed, answer = await _call(servers[0], token, "set_voice_key", {"phrase": PHRASE})
    assert not failed, answer
    ids = [str(uuid.uuid4()) for _ in range(11)]  # more than ten at once wait for a confirmation
    failed, answer = await _call(servers[1], token, "forget", {"memory_ids": ids})
    assert not failed and answer["confirmation"]["status"] == "pending_confirmation", answer
    return token, answer["confirmation"]["action_id"]


async def _confirm_at_once(servers: tuple[Server, Server], token: str, action_id: str,
                           phrases: list[str]) -> list[tuple[bool, Any]]:
    """One MCP session per phrase, alternating between the processes; the calls go out together once
    every session is open."""
    ready, go = 0, asyncio.Event()

    async def one(i: int) -> tuple[bool, Any]:
        nonlocal ready
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(headers=headers, timeout=CALL_TIMEOUT_S) as http,
            Client(streamable_http_client(servers[i % 2].mcp_url, http_client=http)) as client,
        ):
            ready += 1
            if ready == len(phrases):
                go.set()
            await go.wait()
            result = await client.call_tool("confirm_action", {"action_id": action_id, "phrase": phrases[i]})
        text = result.content[0].text if result.is_error else result.structured_content
        return result.is_error, re.sub(r"^Error executing tool \w+: ", "", text) if result.is_error else text

    with anyio.fail_after(CALL_TIMEOUT_S * 2):
        return list(await asyncio.gather(*(one(i) for i in range(len(phrases)))))


async def test_http_the_right_phrase_among_eleven_wrong(servers: tuple[Server, Server]) -> None:
    token, action_id = await _pending_action(servers)
    phrases = WRONG[:11]
    phrases.insert(6, PHRASE)
    answers = await _confirm_at_once(servers, token, action_id, phrases)

    wrong = [text for (failed, text), p in zip(answers, phrases, strict=True) if p != PHRASE]
    assert all(CHECKED_WRONG.fullmatch(t) or LOCKED.fullmatch(t) for t in wrong), wrong
    checked_wrong = sum(bool(CHECKED_WRONG.fullmatch(t)) for t in wrong)
    failed, right = answers[6]
    _, action = await _call(servers[0], token, "get_action", {"action_id": action_id})
    if not failed:
        # Counted among the first five: confirmed, and the guesses checked with it leave room for it.
        assert right["status"] == "completed" and action["status"] == "completed"
        assert checked_wrong <= LOCK_AFTER - 1, answers
    else:
        assert LOCKED.fullmatch(right), right  # turned away unchecked, not "wrong voice key"
        assert action["status"] == "pending_confirmation"
        assert checked_wrong == LOCK_AFTER, answers  # today: all eleven were checked


async def test_http_a_burst_of_wrong_phrases(servers: tuple[Server, Server]) -> None:
    token, action_id = await _pending_action(servers)
    answers = await _confirm_at_once(servers, token, action_id, WRONG[:25])

    assert all(failed for failed, _ in answers)
    texts = [text for _, text in answers]
    assert sum(bool(CHECKED_WRONG.fullmatch(t)) for t in texts) == LOCK_AFTER, texts  # today: 24 of 25
    assert sum(bool(LOCKED.fullmatch(t)) for t in texts) == 25 - LOCK_AFTER, texts
    # Still locked, on either process: the right phrase is turned away and the action waits.
    for server in servers:
        failed, text = await _call(server, token, "confirm_action", {"action_id": action_id, "phrase": PHRASE})
        assert failed and LOCKED.fullmatch(re.sub(r"^Error executing tool \w+: ", "", text)), text
    _, action = await _call(servers[1], token, "get_action", {"action_id": action_id})
    assert action["status"] == "pending_confirmation"

