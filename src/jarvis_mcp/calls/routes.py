"""POST /webhooks/elevenlabs: ElevenLabs delivers a finished call's outcome here. Outside any MCP session
and any user's token: the signature proves the sender, and the call's tag (our action id) names the user."""

from __future__ import annotations

import logging
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jarvis_mcp.calls.webhook import HEADER, WebhookRejected, outcome, verify
from jarvis_mcp.errors import NotFound

log = logging.getLogger(__name__)
PATH = "/webhooks/elevenlabs"
MAX_BODY = 2_000_000  # a long call's transcript fits; anything bigger is not ElevenLabs'


def webhook_routes(shared: Any, secret: str | None) -> list[Route]:
    """Mounted only when JARVIS_ELEVENLABS_WEBHOOK_SECRET is set: an unsigned endpoint is no endpoint."""
    if not secret:
        return []

    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "too large"}, status_code=413)
        try:
            event = verify(body, request.headers.get(HEADER), secret)
        except WebhookRejected as exc:
            log.warning("ElevenLabs webhook rejected: %s", exc)
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        found = outcome(event)
        if found is None:
            return JSONResponse({"status": "ignored"})  # another event type: acknowledged, nothing kept
        stored = await anyio.to_thread.run_sync(_store, shared.runtime, found)
        return JSONResponse({"status": "stored" if stored else "unknown call"})

    return [Route(PATH, receive, methods=["POST"])]


def _store(runtime: Any, found: Any) -> bool:
    user_id = runtime.store.call_owner(found.call_id)
    if user_id is None:
        return False
    try:
        runtime.scope_for(user_id).calls.outcomes.record(found.call_id, found.conversation_id, found.state)
    except NotFound:
        return False  # the tag is a call of theirs but not this conversation: kept as it was
    return True
