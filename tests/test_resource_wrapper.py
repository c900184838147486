"""Resources and prompts go through the tools' edge (handlers.Handlers._guarded): usage limits as reads,
one audit entry per read, safe errors, and another user's object answered exactly as a made-up id."""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult

from jarvis_mcp.account.service import AccountService

MADE_UP = "00000000-0000-4000-8000-000000000000"
READ_TWICE_A_DAY = {"free": {"read": {"per_minute": None, "daily": 2}}}


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return result.structured_content


async def refused(call: Any) -> MCPError:
    with pytest.raises(MCPError) as raised:
        await call
    return raised.value


def audit_rows(home: Path) -> list[tuple[str, dict[str, Any], str, str | None]]:
    """(name, arguments, status, error) as stored, oldest first: what an operator reading the audit sees."""
    with sqlite3.connect(home / "jarvis.db") as conn:
        rows = conn.execute("SELECT tool, arguments, status, error FROM actions ORDER BY created_at")
        return [(tool, json.loads(args), status, error) for tool, args, status, error in rows]


async def test_reads_and_prompts_leave_an_audit_entry_with_redacted_arguments(client_for, home: Path) -> None:
    async with client_for("alice") as c:
        memory = ok(await c.call_tool("remember", {"text": "The spare key is under the blue pot"}))["memory"]
        await c.read_resource("jarvis://me/profile")
        await c.read_resource(memory["uri"])
        missing = await refused(c.read_resource(f"jarvis://me/memories/{MADE_UP}"))
        await c.get_prompt("onboarding", {})
        long_query = "where is the key " + "x" * 400
        await c.get_prompt("context", {"query": long_query})
        actions = ok(await c.call_tool("recent_history", {}))["actions"]
    assert [(a["tool"], a["status"]) for a in actions[:6]] == [
        ("prompt:context", "ok"),
        ("prompt:onboarding", "ok"),
        ("resource:jarvis://me/memories/{memory_id}", "error"),
        ("resource:jarvis://me/memories/{memory_id}", "ok"),
        ("resource:jarvis://me/profile", "ok"),
        ("remember", "ok"),
    ]
    assert actions[2]["error"] == str(missing) == f"memory not found: {MADE_UP}"
    rows = [(name, args) for name, args, _, _ in audit_rows(home)]
    # A template's parameters are its arguments; long text is cut in the audit as a tool's is.
    assert rows[1:-1] == [
        ("resource:jarvis://me/profile", {}),
        ("resource:jarvis://me/memories/{memory_id}", {"memory_id": memory["id"]}),
        ("resource:jarvis://me/memories/{memory_id}", {"memory_id": MADE_UP}),
        ("prompt:onboarding", {}),
        ("prompt:context", {"query": long_query[:300] + f"… ({len(long_query)} chars)"}),
    ]


async def test_reads_over_the_tiers_read_limit_are_refused_with_the_limit(client_for, home: Path) -> None:
    async with client_for("alice", tiers=READ_TWICE_A_DAY, default_tier="free") as c:
        memory = ok(await c.call_tool("remember", {"text": "Bins go out on Tuesday"}))["memory"]
        await c.read_resource("jarvis://me/profile")
        await c.get_prompt("onboarding", {})
        for call, name in [(c.read_resource("jarvis://me/profile"), "resource:jarvis://me/profile"),
                           (c.read_resource(memory["uri"]), "resource:jarvis://me/memories/{memory_id}"),
                           (c.get_prompt("context", {"query": "bins"}), "prompt:context")]:
            message = str(await refused(call))
            assert "daily limit of 2 read-only tool calls reached for tier free; it resets at " in message
            assert message.endswith(f"(tool {name} was not run)")
        ok(await c.call_tool("set_profile", {"name": "Ana"}))  # writes are counted apart
    refusals = [(name, error) for name, _, status, error in audit_rows(home) if status == "error"]
    assert [name for name, _ in refusals] == ["resource:jarvis://me/profile",
                                              "resource:jarvis://me/memories/{memory_id}", "prompt:context"]
    assert all("daily limit of 2" in (error or "") for _, error in refusals)


async def test_an_internal_failure_answers_with_a_reference_and_no_traceback(
    client_for, home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(self: AccountService) -> None:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(AccountService, "profile", explode)
    async with client_for("alice") as c:
        with caplog.at_level(logging.ERROR, logger="jarvis_mcp.handlers"):
            failures = [await refused(c.read_resource("jarvis://me/profile")),
                        await refused(c.get_prompt("onboarding", {}))]
    references = []
    for failure in failures:
        message = str(failure)
        assert message.startswith("internal error (reference ") and message.endswith("the server log has the details")
        assert "hunter2" not in message and "Traceback" not in message and "RuntimeError" not in message
        assert "hunter2" not in json.dumps(failure.error.model_dump(mode="json"))
        references.append(message.split("reference ")[1].split(")")[0])
    # The operator finds each one in the log, with its traceback; the audit names the reference only.
    for ref in references:
        assert any(ref in r.getMessage() and r.exc_info for r in caplog.records)
    assert "database password is hunter2" in caplog.text
    errors = [(name, error) for name, _, status, error in audit_rows(home) if status == "error"]
    assert errors == [("resource:jarvis://me/profile", f"internal error {references[0]}"),
                      ("prompt:onboarding", f"internal error {references[1]}")]


async def assert_reads_like_made_up(bob: Client, hers: str, id_: str) -> None:
    theirs = await refused(bob.read_resource(hers))
    made_up = await refused(bob.read_resource(hers.replace(id_, MADE_UP)))
    assert theirs.code == made_up.code == INVALID_PARAMS  # the code of an unknown URI
    assert str(theirs).replace(id_, "<id>") == str(made_up).replace(MADE_UP, "<id>")
    assert json.dumps(theirs.data).replace(id_, "<id>") == json.dumps(made_up.data).replace(MADE_UP, "<id>")


async def test_another_users_memory_document_and_contact_read_like_made_up_ids(client_for) -> None:
    async with client_for("alice") as alice, client_for("bob") as bob:
        memory = ok(await alice.call_tool("remember", {"text": "Alice's safe code is 1234"}))["memory"]
        doc = ok(await alice.call_tool("add_document", {"title": "Lease", "text": "Rent is 950 euros a month.",
                                                        "mime_type": "text/markdown"}))["document"]
        contact = ok(await alice.call_tool("save_contact", {"name": "Zebulon Quartz",
                                                            "emails": ["zeb@quartz.io"]}))["contact"]
        for uri, id_ in [(memory["uri"], memory["id"]), (doc["uri"], doc["id"]), (doc["original_uri"], doc["id"]),
                         (f"jarvis://me/contacts/{contact['id']}", contact["id"])]:
            await assert_reads_like_made_up(bob, uri, id_)
        # Still Alice's to read.
        original = await alice.read_resource(doc["original_uri"])
        assert base64.b64decode(original.contents[0].blob) == b"Rent is 950 euros a month."
        unknown = await refused(bob.read_resource("jarvis://me/nothing-here"))
        assert unknown.code == INVALID_PARAMS
