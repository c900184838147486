"""Text content for results that carry stored user data: delimited blocks, marked as data."""

from __future__ import annotations

import re
from collections.abc import Iterable

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from jarvis_mcp.models import DATA_NOTICE

# Models read tags loosely: "</MEMORY >" or "< /memory>" would close a block as surely as "</memory>".
_TAG_START = re.compile(r"<(?=\s*/?\s*memory)", re.IGNORECASE)


def _escape(text: str) -> str:
    # A memory must not be able to close its own block (or open a fake one) and speak outside it.
    return _TAG_START.sub("&lt;", text)


def memory_block(attrs: dict[str, object], text: str) -> str:
    head = " ".join(f'{k}="{v}"' for k, v in attrs.items() if v not in (None, "", []))
    return f"<memory {head}>\n{_escape(text)}\n</memory>"


def data_result(model: BaseModel, summary: str, blocks: Iterable[str]) -> CallToolResult:
    text = "\n".join([summary, DATA_NOTICE, *blocks])
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=model.model_dump(mode="json")
    )
