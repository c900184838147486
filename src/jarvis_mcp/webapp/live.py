"""/app/events: the signed-in person's change notices as Server-Sent Events, and nobody else's.

A notice names what changed (topic, id), never its content: the page re-reads that section through the
same pages (and so the same scope and escaping) as a reload would."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from jarvis_mcp.webapp.web import AppWeb

PING_S = 15  # a comment line this often keeps proxies from closing an idle stream


def events_endpoint(app: AppWeb):  # noqa: ANN201 - a Starlette endpoint
    async def events(request: Request) -> Response:
        user_id = await app.user_id(request)
        if user_id is None:
            return PlainTextResponse("sign in first", status_code=401, headers={"Cache-Control": "no-store"})
        return EventSourceResponse(_stream(app, user_id), ping=PING_S,
                                   headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    return events


async def _stream(app: AppWeb, user_id: str) -> AsyncIterator[dict[str, object]]:
    # Subscribed before "ready" is sent: whatever happens after the page hears it reaches the page.
    async with app.shared.runtime.changes.subscribe(user_id) as changes:
        yield {"event": "ready", "data": "{}", "retry": 3000}
        async for change in changes:
            if change.user_id != user_id:  # the bus partitions by user; checked again where it leaves
                continue
            yield {"event": "change", "data": json.dumps({"topic": change.topic, "ref": change.ref})}
