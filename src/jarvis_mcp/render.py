"""Text content for results that carry stored user data: delimited blocks, marked as data."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from jarvis_mcp.memory.models import DATA_NOTICE
from jarvis_mcp.untrusted import defuse


def data_result(model: BaseModel, summary: str, blocks: Iterable[str], notice: str = DATA_NOTICE) -> CallToolResult:
    text = "\n".join([defuse(summary), notice, *blocks])
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=model.model_dump(mode="json")
    )


def json_text(model: BaseModel, notice: str | None = None) -> str:
    """A model as JSON for a model to read: stored strings in it cannot pass for tags.

    JSON stays JSON (clients parse it); the structured copy of a tool result keeps the stored text verbatim.
    """
    data: dict[str, Any] = model.model_dump(mode="json")
    if notice is not None:
        data["notice"] = notice
    return defuse(json.dumps(data, indent=2, ensure_ascii=False))


def json_result(model: BaseModel) -> CallToolResult:
    """What the SDK would return for `model` (its JSON as text, and structured), with the text defused."""
    return CallToolResult(
        content=[TextContent(type="text", text=json_text(model))], structured_content=model.model_dump(mode="json")
    )
