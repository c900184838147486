"""The identity toolset: list_identities, the caller's own sign-in methods (the page /account/identities
links and unlinks them; a tool never does, since proving an identity takes a browser)."""

from __future__ import annotations

from typing import Annotated

from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from jarvis_mcp.handlers import Handlers
from jarvis_mcp.identity.models import IdentityList
from jarvis_mcp.render import json_result


def register(h: Handlers) -> None:
    @h.tool(
        title="List sign-in methods",
        description=(
            "The user's own ways of signing in to JARVIS (email link, Google, wallet, Telegram, ...): the method, "
            "who it is (masked) and when it was linked. Link or unlink them at the server's /account/identities page."
        ),
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
    )
    def list_identities(
        method: Annotated[str | None, Field(description="Only this method (email, google, wallet, telegram, "
                                                        "local).")] = None,
    ) -> Annotated[CallToolResult, IdentityList]:
        return json_result(h.scope().identities.list(method))
