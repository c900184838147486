"""The change bus over Redis pub/sub (JARVIS_REDIS_URL): a change made in any server process reaches the
watchers (MCP subscriptions, the /app page) of every process.

One channel, `<prefix>:changes`, carries every user's notices; each process hands a notice only to its own
watchers of that user (events.LocalFanout). Notices carry ids, never content, so the channel holds nothing
a user's data could leak through. Pub/sub keeps nothing: a process that was away misses notices, which
costs a stale view until the client re-reads, never data.

Publishing never waits on Redis: notices go onto a bounded queue that one thread sends; if Redis is away
the queue fills and further notices are dropped (said once in the log), so a tool call is never slowed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import redis

from jarvis_mcp.events import Change, LocalFanout, _subscription

log = logging.getLogger(__name__)

PENDING_LIMIT = 10_000  # notices waiting for Redis before new ones are dropped
RECONNECT_S = 1.0


def encode(change: Change) -> str:
    return json.dumps({"u": change.user_id, "t": change.topic, "r": change.ref}, separators=(",", ":"))


def decode(raw: bytes | str) -> Change | None:
    try:
        data = json.loads(raw)
        ref = data.get("r")
        return Change(user_id=str(data["u"]), topic=str(data["t"]), ref=None if ref is None else str(ref))
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("ignored a malformed change notice on the Redis channel")
        return None


class RedisChangeBus:
    def __init__(self, client: redis.Redis, prefix: str = "jarvis") -> None:
        self.client = client
        self.channel = f"{prefix}:changes"
        self._fanout = LocalFanout()
        self._pending: queue.Queue[Change | None] = queue.Queue(PENDING_LIMIT)
        self._stop = threading.Event()
        self._dropping = False
        self._listening = threading.Event()  # set once the receiver is subscribed (tests wait on it)
        self._sender = threading.Thread(target=self._send_loop, name="jarvis-changes-send", daemon=True)
        self._receiver = threading.Thread(target=self._receive_loop, name="jarvis-changes-receive", daemon=True)
        self._sender.start()
        self._receiver.start()

    def publish(self, change: Change) -> None:
        try:
            self._pending.put_nowait(change)
            self._dropping = False
        except queue.Full:
            if not self._dropping:
                self._dropping = True
                log.warning("Redis is not taking change notices; live views may be stale until it does")

    def subscribe(self, user_id: str) -> AbstractAsyncContextManager[AsyncIterator[Change]]:
        return _subscription(self._fanout, user_id)

    def wait_listening(self, timeout: float = 5.0) -> bool:
        return self._listening.wait(timeout)

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._pending.put_nowait(None)  # wakes the sender
        self._sender.join(timeout=2)
        self._receiver.join(timeout=3)
        self.client.close()

    def _send_loop(self) -> None:
        while True:
            change = self._pending.get()
            if change is None or self._stop.is_set():
                return
            try:
                self.client.publish(self.channel, encode(change))
            except redis.RedisError as exc:
                # Dropped, not retried: the next change re-tells the same resources, and retrying would only
                # pile notices up behind an outage.
                log.debug("change notice not published: %s", exc)

    def _receive_loop(self) -> None:
        while not self._stop.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                self._listening.set()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None and message.get("type") == "message":
                        change = decode(message["data"])
                        if change is not None:
                            self._fanout.deliver(change)
            except (redis.RedisError, OSError) as exc:
                if self._listening.is_set():  # once per outage, not once per retry
                    log.warning("Redis change channel lost (%s): live views of this process are stale until "
                                "it answers (tried again every %.0f s)", exc, RECONNECT_S)
                self._listening.clear()
                self._stop.wait(RECONNECT_S)
            finally:
                with contextlib.suppress(Exception):  # closing a broken connection may fail too
                    pubsub.close()
