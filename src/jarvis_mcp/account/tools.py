"""The account toolset: the profile and recent history, which the assistant reads on its own."""

from __future__ import annotations

from typing import Annotated

from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from jarvis_mcp.account.models import History, Profile, UsageReport
from jarvis_mcp.handlers import Handlers
from jarvis_mcp.render import data_result, json_result
from jarvis_mcp.untrusted import data_block


def register(h: Handlers) -> None:
    @h.tool(
        title="Get profile",
        description=(
            "The user's profile: name, pronouns, time zone, locale, preferences, and whether onboarding is "
            "complete. Call it at the start of a conversation to greet the user by name."
        ),
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
    )
    def get_profile() -> Annotated[CallToolResult, Profile]:
        return json_result(h.scope().account.profile())

    @h.tool(
        title="Set profile",
        description=(
            "Update the user's profile. Only the fields given change; in preferences an empty value removes "
            "that preference."
        ),
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False),
    )
    def set_profile(
        name: Annotated[str | None, Field(description="How the user wants to be called.")] = None,
        pronouns: Annotated[str | None, Field(description="e.g. she/her, he/him, they/them.")] = None,
        timezone: Annotated[str | None, Field(description="IANA time zone, e.g. Europe/Madrid.")] = None,
        locale: Annotated[str | None, Field(description="Language tag, e.g. es-ES.")] = None,
        preferences: Annotated[dict[str, str] | None, Field(description="Free-form preferences to merge.")] = None,
    ) -> Annotated[CallToolResult, Profile]:
        return json_result(h.scope().account.set_profile(name, pronouns, timezone, locale, preferences))

    @h.tool(
        title="Get usage",
        description=(
            "The user's usage and limits: tool calls per day (last 30 days), the tier with each limit's "
            "used and remaining calls and when it resets, and cache hit figures. Read-only tools and tools "
            "that change data have separate limits. Call it when a tool reports that a limit was reached."
        ),
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
    )
    def get_usage() -> UsageReport:
        return h.scope().usage.report(30)

    @h.tool(
        title="Recent history",
        description="The user's recent conversations, memories and actions, newest first.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
    )
    def recent_history(
        limit: Annotated[int, Field(description="How many of each (1-200).")] = 20,
    ) -> Annotated[CallToolResult, History]:
        history = h.scope().account.history(limit)
        blocks = [
            data_block("memory", m.text, id=m.id, kind=m.kind, date=m.created_at.isoformat(timespec="minutes"))
            for m in history.recent_memories
        ]
        summary = (
            f"{len(history.conversations)} conversations, {len(history.recent_memories)} memories, "
            f"{len(history.actions)} actions."
        )
        return data_result(history, summary, blocks)
