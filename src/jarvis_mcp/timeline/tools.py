"""get_client_history: one timeline per contact, concise — one line per item (id, kind, date, snippet)."""

from __future__ import annotations

from typing import Annotated

from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from jarvis_mcp.handlers import Handlers
from jarvis_mcp.render import data_result
from jarvis_mcp.timeline.models import HISTORY_NOTICE, ClientHistory
from jarvis_mcp.untrusted import data_block


def lines(history: ClientHistory) -> str:
    return "\n".join(f"{i.at[:16]} {i.kind} {i.id}: {i.snippet}" for i in history.items)


def render(history: ClientHistory) -> CallToolResult:
    who = f"{history.contact_name} (id {history.contact_id})" if history.contact_id else history.contact_name
    head = (f"{len(history.items)} items, newest first. Looked in: {'; '.join(history.sources)}. "
            "Fetch one by id (search_memory, read_email, get_call, list_events) for more.")
    return data_result(history, head, [data_block("contact", who),
                                       data_block("history", lines(history), newest="first")], HISTORY_NOTICE)


def register(h: Handlers) -> None:
    @h.tool(
        title="Client history",
        description=(
            "Everything that happened with one person, newest first: memories and logged conversations that name "
            "them, emails sent and received, events they attend, calls. One line per item (date, kind, id, "
            "snippet). Use it for '¿qué he hablado con Laura?' or 'when did I last talk to Ana?'."
        ),
        annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                                    open_world_hint=True),
    )
    def get_client_history(
        contact: Annotated[str, Field(description="A contact's name, id, email address or phone number.")],
        since: Annotated[str | None, Field(description="ISO 8601 date or date-time: only items from then.")] = None,
        until: Annotated[str | None, Field(description="ISO 8601 date or date-time: only items until then.")] = None,
        kinds: Annotated[list[str] | None, Field(description=(
            "Only these: memory, conversation, email_sent, email_received, event, call. Default all."))] = None,
        limit: Annotated[int, Field(description="Items listed (1-100).")] = 20,
    ) -> Annotated[CallToolResult, ClientHistory]:
        return render(h.scope().timeline.history(contact, since=since, until=until, kinds=kinds, limit=limit))
