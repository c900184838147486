"""The public surface (tools, resources, prompts) compared to tests/snapshots/catalog.json.

A change to a name, schema or annotation is a change to the contract every client relies on: review it,
then accept it with `UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_catalog_snapshot.py`.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

from mcp import Client

SNAPSHOT = Path(__file__).parent / "snapshots" / "catalog.json"
UPDATE_HINT = "UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_catalog_snapshot.py"


async def catalog(client: Client) -> dict[str, Any]:
    tools = (await client.list_tools()).tools
    resources = (await client.list_resources()).resources
    templates = (await client.list_resource_templates()).resource_templates
    prompts = (await client.list_prompts()).prompts
    return {
        "tools": {
            t.name: {
                "input_schema": t.input_schema,
                "output_schema": t.output_schema,
                "annotations": t.annotations.model_dump(mode="json", by_alias=True, exclude_none=True)
                if t.annotations else None,
            }
            for t in sorted(tools, key=lambda t: t.name)
        },
        "resources": {r.uri: {"name": r.name, "mime_type": r.mime_type} for r in sorted(resources, key=lambda r: r.uri)},
        "resource_templates": {
            t.uri_template: {"name": t.name, "mime_type": t.mime_type}
            for t in sorted(templates, key=lambda t: t.uri_template)
        },
        "prompts": {
            p.name: [{"name": a.name, "required": bool(a.required)} for a in p.arguments or []]
            for p in sorted(prompts, key=lambda p: p.name)
        },
        # What clients may subscribe to (resources.subscribe, listChanged) is part of the contract too.
        "capabilities": {"resources": client.server_capabilities.resources.model_dump(
            mode="json", by_alias=True, exclude_none=True) if client.server_capabilities.resources else None},
    }


def dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def summary(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    lines = []
    for section in ("tools", "resources", "resource_templates", "prompts"):
        before, after = old.get(section, {}), new.get(section, {})
        for name in sorted(after.keys() - before.keys()):
            lines.append(f"  added {section[:-1]}: {name}")
        for name in sorted(before.keys() - after.keys()):
            lines.append(f"  removed {section[:-1]}: {name}")
        for name in sorted(before.keys() & after.keys()):
            if before[name] != after[name]:
                parts = [k for k in after[name] if before[name].get(k) != after[name].get(k)] \
                    if isinstance(after[name], dict) else []
                lines.append(f"  changed {section[:-1]}: {name} {parts or ''}".rstrip())
    return lines


async def test_catalog_matches_snapshot(client_for) -> None:
    async with client_for("snapshot") as c:
        live = await catalog(c)
    text = dump(live)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(text, encoding="utf-8")
        return
    assert SNAPSHOT.exists(), f"no snapshot at {SNAPSHOT}; create it with: {UPDATE_HINT}"
    stored = SNAPSHOT.read_text(encoding="utf-8")
    if stored == text:
        return
    diff = list(difflib.unified_diff(stored.splitlines(), text.splitlines(), "snapshot", "live", lineterm="", n=2))
    shown = "\n".join(diff[:120]) + (f"\n... ({len(diff) - 120} more diff lines)" if len(diff) > 120 else "")
    raise AssertionError(
        "the MCP catalog differs from tests/snapshots/catalog.json:\n"
        + "\n".join(summary(json.loads(stored), live))
        + f"\n\n{shown}\n\nIf the change is intended, review it and update the snapshot with:\n    {UPDATE_HINT}"
    )


async def test_read_only_mode_lists_exactly_the_read_only_tools(client_for) -> None:
    async with client_for("snapshot") as full:
        everything = await catalog(full)
    async with client_for("snapshot", read_only=True) as ro:
        read_only = await catalog(ro)
        expected = {name for name, t in everything["tools"].items() if (t["annotations"] or {}).get("readOnlyHint")}
        assert set(read_only["tools"]) == expected
        assert expected  # the mode is useless if nothing is left
        for name in everything["tools"].keys() - expected:
            result = await ro.call_tool(name, {})
            assert result.is_error and "Unknown tool" in result.content[0].text, name
    # Resources and prompts only read; they stay the same, as does every remaining tool's contract.
    assert {k: v for k, v in read_only.items() if k != "tools"} == {k: v for k, v in everything.items() if k != "tools"}
    assert read_only["tools"] == {name: everything["tools"][name] for name in expected}


async def test_every_tool_states_all_its_hints(client_for) -> None:
    """Clients assume the worst for a missing hint (destructive, open world): say each one explicitly."""
    async with client_for("snapshot") as c:
        tools = (await c.list_tools()).tools
    for t in tools:
        a = t.annotations
        assert a is not None and a.read_only_hint is not None and a.open_world_hint is not None, t.name
        assert a.idempotent_hint is not None, t.name
        if not a.read_only_hint:
            assert a.destructive_hint is not None, t.name
        assert t.output_schema is not None, f"{t.name} has no structured output"
