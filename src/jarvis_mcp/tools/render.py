"""Text content for results that carry stored user data: delimited blocks, marked as data."""

from __future__ import annotations

from collections.abc import Iterable

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from jarvis_mcp.models import DATA_NOTICE


def _escape(text: str) -> str:
    # A memory must not be able to close its own block and speak outside it.
    return text.replace("</memory", "<\\/memory").replace("<memory", "<\\memory")


def memory_block(attrs: dict[str, object], text: str) -> str:
    head = " ".join(f'{k}="{v}"' for k, v in attrs.items() if v not in (None, "", []))
    return f"<memory {head}>\n{_escape(text)}\n</memory>"


def data_result(model: BaseModel, summary: str, blocks: Iterable[str]) -> CallToolResult:
    text = "\n".join([summary, DATA_NOTICE, *blocks])
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=model.model_dump(mode="json")
    )
