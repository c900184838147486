"""The page's forms, read into what the services take. The services check every value; this only shapes
them (lists from comma- or line-separated text) and names the field when something is missing."""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from starlette.datastructures import FormData, UploadFile

from jarvis_mcp.errors import InvalidInput

_SPLIT = re.compile(r"[,\n;]+")
_LISTS = ("emails", "phones", "tags")
_TEXTS = ("name", "company", "role", "notes", "relationship")


def items(value: object) -> list[str]:
    return [part.strip() for part in _SPLIT.split(value if isinstance(value, str) else "") if part.strip()]


def contact_fields(form: FormData) -> dict[str, Any]:
    """Every field of the edit form; a field left out of the POST stays as it is (None)."""
    fields: dict[str, Any] = {}
    for name in _TEXTS:
        value = form.get(name)
        if isinstance(value, str):
            fields[name] = value.strip() or None
    for name in _LISTS:
        if name in form:
            fields[name] = items(form.get(name))
    if "name" in form and not fields.get("name"):
        raise InvalidInput("name", "must not be empty")
    return fields


async def upload(form: FormData) -> tuple[bytes, dict[str, Any]]:
    """The uploaded file and what add_bytes takes besides its bytes."""
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        raise InvalidInput("file", "choose a file to upload (PDF, text, Markdown or HTML)")
    data = await file.read()
    if not data:
        raise InvalidInput("file", f"{file.filename} is empty")
    title = form.get("title")
    title = title.strip() if isinstance(title, str) and title.strip() else PurePath(file.filename).stem or file.filename
    # The type comes from the bytes and the name: a browser's guess (often octet-stream) is not asked.
    return data, {"title": title, "filename": PurePath(file.filename).name, "tags": items(form.get("tags"))}
