"""/app/events: a change published for A reaches A's open stream and never B's; a signed-out visitor gets
no stream. The streams are read straight from the ASGI app (a test client would wait for the end of a
stream that never ends), while the TestClient holds the server's runtime open."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sse_starlette.sse import AppStatus
from webapp_support import Site, site

from jarvis_mcp.events import Change

WAIT_S = 5.0


class Stream:
    """One browser's EventSource on /app/events: the events it has read so far, by name and data."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._buffer = ""

    def feed(self, chunk: str) -> None:
        self._buffer += chunk.replace("\r\n", "\n")
        while "\n\n" in self._buffer:
            block, self._buffer = self._buffer.split("\n\n", 1)
            fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line and not line.startswith(":"))
            if "event" in fields:
                self.events.put_nowait((fields["event"], json.loads(fields.get("data", "{}"))))

    async def next(self) -> tuple[str, dict[str, Any]]:
        return await asyncio.wait_for(self.events.get(), WAIT_S)


@asynccontextmanager
async def open_stream(s: Site, session: str | None) -> AsyncIterator[Stream]:
    stream, gone = Stream(), asyncio.Event()
    headers = [(b"host", b"127.0.0.1:8765"), (b"accept", b"text/event-stream")]
    if session:
        headers.append((b"cookie", f"jarvis_session={session}".encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/app/events", "raw_path": b"/app/events", "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8765), "state": {}}

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            stream.status = message["status"]
        elif message["type"] == "http.response.body":
            stream.feed(message.get("body", b"").decode())

    task = asyncio.create_task(s.client.app(scope, receive, send))
    try:
        yield stream
    finally:
        gone.set()
        try:
            await asyncio.wait_for(task, WAIT_S)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()


@pytest.fixture(scope="module")
def live_site(tmp_path_factory: pytest.TempPathFactory, embedder: Any):
    AppStatus.should_exit = False  # another module's server shutdown must not end these streams at once
    with site(tmp_path_factory.mktemp("live") / "home", embedder) as s:
        yield s


async def test_a_change_for_a_reaches_as_stream_and_not_bs(live_site: Site) -> None:
    s = live_site
    bus = s.mcp.shared.runtime.changes
    a, b = s.user_id("a"), s.user_id("b")
    async with open_stream(s, s.sessions["a"]) as ana, open_stream(s, s.sessions["b"]) as bruno:
        assert await ana.next() == ("ready", {}) and await bruno.next() == ("ready", {})
        assert ana.status == bruno.status == 200
        bus.publish(Change(a, "outbox", "act-1"))
        assert await ana.next() == ("change", {"topic": "outbox", "ref": "act-1"})
        # B's own later change arrives first on B's stream: A's was never sent there.
        bus.publish(Change(b, "memories", None))
        assert await bruno.next() == ("change", {"topic": "memories", "ref": None})
        assert ana.events.empty()


async def test_a_change_made_on_the_page_reaches_the_persons_other_pages(live_site: Site) -> None:
    s = live_site
    memory_id = s.scope("a").memory.remember("Recordar llamar al dentista").memory.id
    async with open_stream(s, s.sessions["a"]) as ana:
        assert (await ana.next())[0] == "ready"
        s.as_user("a")
        token = await asyncio.to_thread(s.token)
        answer = await asyncio.to_thread(s.client.post, f"/app/memories/{memory_id}/delete", data={"csrf_token": token})
        assert answer.status_code == 303
        event, data = await ana.next()
        assert event == "change" and data["topic"] == "memories"


async def test_no_stream_without_a_session(live_site: Site) -> None:
    async with open_stream(live_site, None) as nobody:
        for _ in range(50):
            if nobody.status is not None:
                break
            await asyncio.sleep(0.02)
        assert nobody.status == 401 and nobody.events.empty()
    async with open_stream(live_site, "forged-session") as forged:
        for _ in range(50):
            if forged.status is not None:
                break
            await asyncio.sleep(0.02)
        assert forged.status == 401
