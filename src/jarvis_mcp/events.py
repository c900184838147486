"""The change bus: services say "this user's X changed", watchers (MCP subscriptions, the /app page) hear it.

Publishing is fire-and-forget on purpose: a change notice is a hint to re-read, never the data itself, so a
lost notice costs a stale view, while a failing publish must never fail the tool call that made the change.
The in-process bus serves one process (the embedded default, stdio); adapters/redis_events.py carries the
same notices between server processes through Redis pub/sub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

TOPICS = frozenset({"outbox", "action", "memories", "documents", "contacts", "jobs", "identities", "profile"})

# A watcher that stops reading must not grow memory without bound; past this it misses notices (stale view).
QUEUE_LIMIT = 1000


@dataclass(frozen=True)
class Change:
    user_id: str
    topic: str  # one of TOPICS
    ref: str | None = None  # the changed object's id when there is one


class ChangeBus(Protocol):
    def publish(self, change: Change) -> None: ...

    def subscribe(self, user_id: str) -> AbstractAsyncContextManager[AsyncIterator[Change]]: ...


class _Watcher:
    """One subscriber's queue, fed from any thread (services run in worker threads) onto its own loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Change] = asyncio.Queue(QUEUE_LIMIT)

    def offer(self, change: Change) -> None:
        with contextlib.suppress(RuntimeError):  # the watcher's loop is closed: it is leaving anyway
            self.loop.call_soon_threadsafe(self._put, change)

    def _put(self, change: Change) -> None:
        try:
            self.queue.put_nowait(change)
        except asyncio.QueueFull:
            log.warning("change watcher is not reading; dropping a %s notice", change.topic)

    async def changes(self) -> AsyncIterator[Change]:
        while True:
            yield await self.queue.get()


class LocalFanout:
    """Per-user lists of watchers; thread-safe. Shared by the in-process bus and the Redis bus's receiver."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watchers: dict[str, list[_Watcher]] = {}

    def deliver(self, change: Change) -> None:
        with self._lock:
            watchers = list(self._watchers.get(change.user_id, ()))
        for watcher in watchers:
            watcher.offer(change)

    def add(self, user_id: str) -> _Watcher:
        watcher = _Watcher(asyncio.get_running_loop())
        with self._lock:
            self._watchers.setdefault(user_id, []).append(watcher)
        return watcher

    def remove(self, user_id: str, watcher: _Watcher) -> int:
        """Drops the watcher; returns how many watchers that user still has."""
        with self._lock:
            remaining = [w for w in self._watchers.get(user_id, []) if w is not watcher]
            if remaining:
                self._watchers[user_id] = remaining
            else:
                self._watchers.pop(user_id, None)
            return len(remaining)

    def users(self) -> list[str]:
        with self._lock:
            return list(self._watchers)


class InProcessChangeBus:
    """The embedded default: notices reach watchers in this process only."""

    def __init__(self) -> None:
        self._fanout = LocalFanout()

    def publish(self, change: Change) -> None:
        try:
            self._fanout.deliver(change)
        except Exception:  # never fail the caller's tool call over a notice
            log.exception("change notice not delivered")

    def subscribe(self, user_id: str) -> AbstractAsyncContextManager[AsyncIterator[Change]]:
        return _subscription(self._fanout, user_id)


@asynccontextmanager
async def _subscription(
    fanout: LocalFanout, user_id: str, on_empty: Callable[[str], None] | None = None
) -> AsyncIterator[AsyncIterator[Change]]:
    watcher = fanout.add(user_id)
    try:
        yield watcher.changes()
    finally:
        if fanout.remove(user_id, watcher) == 0 and on_empty is not None:
            on_empty(user_id)


class NullChangeBus:
    """For code paths built without a runtime (some unit tests): publishing is a no-op."""

    def publish(self, change: Change) -> None:
        return None

    def subscribe(self, user_id: str) -> AbstractAsyncContextManager[AsyncIterator[Change]]:
        return _subscription(LocalFanout(), user_id)


def uris_for(change: Change) -> frozenset[str]:
    """The caller's resources (jarvis://me/...) whose contents this change alters: what a subscriber to any
    of them is told about. Over-telling is cheap (the client re-reads); missing one leaves a stale view."""
    me = "jarvis://me/"
    ref = change.ref
    if change.topic in ("outbox", "action"):
        uris = {me + "outbox", me + "history", me + "calendar.ics"}
        if ref:
            uris.add(f"{me}actions/{ref}")
    elif change.topic == "memories":
        uris = {me + "history", me + "usage"} | ({f"{me}memories/{ref}"} if ref else set())
    elif change.topic == "documents":
        uris = {me + "documents"} | ({f"{me}documents/{ref}", f"{me}documents/{ref}/original"} if ref else set())
    elif change.topic == "contacts":
        uris = {me + "contacts"} | ({f"{me}contacts/{ref}"} if ref else set())
    elif change.topic == "profile":
        uris = {me + "profile"}
    elif change.topic == "jobs" and ref:
        uris = {f"{me}jobs/{ref}"}
    else:
        uris = set()
    return frozenset(uris)


def publish_quietly(bus: ChangeBus | None, user_id: str, topic: str, ref: str | None = None) -> None:
    """What services call: one line, never raises."""
    if bus is None:
        return
    try:
        bus.publish(Change(user_id=user_id, topic=topic, ref=ref))
    except Exception:
        log.exception("change notice for %s not published", topic)


def _first_id(result: Any) -> str | None:
    """The id of the one record a write returned, when it returned exactly one."""
    if isinstance(result, tuple) and result:  # (record, created)
        result = result[0]
    if isinstance(result, list):
        result = result[0] if len(result) == 1 else None
    ref = getattr(result, "id", None) if result is not None else None
    return ref if isinstance(ref, str) else (result if isinstance(result, str) else None)


def _unless_replayed(result: Any) -> bool:
    return not (isinstance(result, tuple) and len(result) == 2 and result[1] is False)


# The store's writes that change something a user can watch: method -> (topic, did it change anything?).
# The store is where every path meets (a tool, recovery at start-up, the /app page, a job), so telling here
# tells about all of them; a write that changed nothing (a replayed claim, a lost compare-and-set) is quiet.
WATCHED_WRITES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "outbox_claim": ("outbox", _unless_replayed),
    "outbox_transition": ("outbox", lambda r: r is not None),
    "call_put": ("outbox", lambda r: True),
    "insert_memories": ("memories", bool),
    "delete_memories": ("memories", bool),
    "add_document": ("documents", _unless_replayed),
    "mark_document_indexed": ("documents", lambda r: True),
    "delete_document": ("documents", lambda r: r is not None),
    "write_contacts": ("contacts", bool),
    "delete_contacts": ("contacts", bool),
    "update_user": ("profile", lambda r: True),
    "link_identity": ("identities", lambda r: True),
    "unlink_identity": ("identities", lambda r: True),
}


class NoticingStore:
    """One user's view of the store that publishes a Change after each watched write of that user's data.

    Everything else passes through untouched. Only writes whose first argument is this scope's user are
    told, to this user's watchers alone: a notice can never cross to another user.
    """

    def __init__(self, store: Any, user_id: str, bus: ChangeBus | None) -> None:
        self._store = store
        self._user_id = user_id
        self._bus = bus

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        watched = WATCHED_WRITES.get(name)
        if watched is None or not callable(attr):
            return attr
        topic, changed = watched

        def write(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if args and args[0] == self._user_id and changed(result):
                ref = self._ref(name, args, result)
                publish_quietly(self._bus, self._user_id, topic, ref)
            return result

        return write

    @staticmethod
    def _ref(name: str, args: tuple[Any, ...], result: Any) -> str | None:
        if name in ("outbox_transition", "mark_document_indexed", "delete_document") and len(args) > 1:
            return str(args[1])  # (user_id, the object's id, ...)
        if name == "call_put" and len(args) > 1:
            return getattr(args[1], "call_id", None)  # a call's id is its action's id
        return _first_id(result)
