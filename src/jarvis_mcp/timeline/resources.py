"""jarvis://me/contacts/{id}/history: the same timeline as get_client_history, as JSON."""

from __future__ import annotations

from jarvis_mcp.handlers import Handlers
from jarvis_mcp.render import json_text
from jarvis_mcp.timeline.models import HISTORY_NOTICE

HISTORY_TEMPLATE = "jarvis://me/contacts/{contact_id}/history"


def register(h: Handlers) -> None:
    @h.resource(
        HISTORY_TEMPLATE, name="contact_history", mime_type="application/json",
        description="One contact's timeline, newest first: memories, conversations, emails, events, calls.",
    )
    def contact_history(contact_id: str) -> str:
        return json_text(h.scope().timeline.history(contact_id, limit=50), notice=HISTORY_NOTICE)
