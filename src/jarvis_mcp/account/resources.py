"""jarvis://me/... resources: the caller's own profile, memories, history and usage."""

from __future__ import annotations

from jarvis_mcp.handlers import Handlers
from jarvis_mcp.memory.models import DATA_NOTICE
from jarvis_mcp.render import json_text


def register(h: Handlers) -> None:
    @h.resource(
        "jarvis://me/profile", name="profile", mime_type="application/json",
        description="Your profile, and whether onboarding is complete.",
    )
    def profile() -> str:
        return json_text(h.scope().account.profile())

    @h.resource(
        "jarvis://me/memories/{memory_id}", name="memory", mime_type="application/json",
        description="One of your memories, by id.",
    )
    def memory(memory_id: str) -> str:
        return json_text(h.scope().memory.get(memory_id), notice=DATA_NOTICE)

    @h.resource(
        "jarvis://me/history", name="history", mime_type="application/json",
        description="Your recent conversations, memories and actions.",
    )
    def history() -> str:
        return json_text(h.scope().account.history(50))

    @h.resource(
        "jarvis://me/usage", name="usage", mime_type="application/json",
        description=("Your usage: stored memories, tool calls per day (last 30 days), your tier's limits "
                     "(used, remaining, reset time) and cache figures (hits, misses, hit rate)."),
    )
    def usage() -> str:
        return h.scope().usage.report(30).model_dump_json(indent=2)
