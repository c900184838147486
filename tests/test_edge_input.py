"""Arguments are checked once at the edge: a control character anywhere in a string argument (tools,
resource template parameters, prompt arguments, completion values) is a field error on every store, with
nothing written and the call still audited; a time zone that is not one is a field error too.

Each NUL case answered `internal error` on Postgres (psycopg.DataError), and get_action("x\\x00") left
no audit entry there: the not-found message echoed the NUL the audit insert then refused.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, PromptReference, ResourceTemplateReference
from pgtest import PgDatabase, fresh_database, system_cluster

from jarvis_mcp.errors import InvalidInput
from jarvis_mcp.handlers import _redact
from jarvis_mcp.text import printable, valid_zone, zone

CONTROL_RULE = "must not contain control characters"
ZONE_RULE = "timezone: must be an IANA time zone such as Europe/Madrid"
DAY = f"{datetime.now(UTC).year + 1}-03-10"

EMAIL = {"to": ["ana@example.com"], "subject": "Hola", "body": "Nos vemos el martes."}
EVENT = {"title": "Dentist", "start": f"{DAY}T10:00", "duration_minutes": 30}
CALL = {"contact": "+34 612 345 678", "purpose": "Book a table for two"}
# The nine arguments the attack found answering `internal error` on Postgres: (tool, arguments, field).
NUL_CASES = [
    ("list_documents", {"query": "tax\x00return"}, "query"),
    ("send_email", {**EMAIL, "to": ["ana\x00@example.com"]}, "to[0]"),
    ("send_email", {**EMAIL, "cc": ["bea@example.com", "x\x00@example.com"]}, "cc[1]"),
    ("send_email", {**EMAIL, "bcc": ["x\x00@example.com"]}, "bcc[0]"),
    ("send_email", {**EMAIL, "idempotency_key": "key\x00"}, "idempotency_key"),
    ("schedule_event", {**EVENT, "idempotency_key": "key\x00"}, "idempotency_key"),
    ("cancel_event", {"event_id": "evt\x00"}, "event_id"),
    ("call_contact", {**CALL, "contact": "Ana\x00"}, "contact"),
    ("call_contact", {**CALL, "idempotency_key": "key\x00"}, "idempotency_key"),
]


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return result.structured_content


def err(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    return result.content[0].text


@pytest.fixture(scope="module")
def pgdb() -> Iterator[PgDatabase]:
    with fresh_database(system_cluster()) as db:
        yield db


@pytest.fixture(params=["sqlite", "postgres"])
def on_store(request: pytest.FixtureRequest, client_for, home) -> Any:
    """(open a client for a user, read that store's audit rows as (tool, arguments JSON, error))."""
    if request.param == "sqlite":
        def audit_rows() -> list[tuple[str, str, str | None]]:
            with sqlite3.connect(home / "jarvis.db") as conn:
                return list(conn.execute("SELECT tool, arguments, error FROM actions ORDER BY created_at"))

        return client_for, audit_rows
    pg: PgDatabase = request.getfixturevalue("pgdb")

    def open_client(user: str) -> Any:
        return client_for(user, store="postgres", database_url=pg.app_url)

    def pg_rows() -> list[tuple[str, str, str | None]]:
        with psycopg.connect(pg.owner_url) as conn:
            return list(conn.execute("SELECT tool, arguments::text, error FROM jarvis.actions ORDER BY created_at"))

    return open_client, pg_rows


async def nothing_written(c: Client) -> None:
    assert ok(await c.call_tool("list_actions", {}))["actions"] == []
    assert ok(await c.call_tool("list_events", {"start": f"{DAY}T00:00", "end": f"{DAY}T23:59"}))["events"] == []
    assert ok(await c.call_tool("list_documents", {}))["documents"] == []


# -- control characters: the nine arguments, on both stores --------------------------------------


@pytest.mark.parametrize(("tool", "args", "field"), NUL_CASES, ids=[f"{t}.{f}" for t, _, f in NUL_CASES])
async def test_a_nul_is_a_field_error_on_every_store(on_store, tool: str, args: dict[str, Any], field: str) -> None:
    open_client, audit_rows = on_store
    async with open_client(f"mallory-{uuid.uuid4().hex[:8]}") as c:
        text = err(await c.call_tool(tool, args))
        assert text.endswith(f"{field}: {CONTROL_RULE}"), text
        assert "internal error" not in text and "\x00" not in text
        await nothing_written(c)
        history = ok(await c.call_tool("recent_history", {"limit": 20}))["actions"]
        assert {"tool": tool, "status": "error", "error": f"{field}: {CONTROL_RULE}"}.items() <= history[-1].items()
    rows = [r for r in audit_rows() if r[0] == tool]
    assert rows and all("\x00" not in (r[1] + (r[2] or "")) and "\\u0000" not in r[1] for r in rows)


async def test_get_action_with_a_nul_is_audited(on_store) -> None:
    open_client, audit_rows = on_store
    marker = uuid.uuid4().hex
    async with open_client(f"mallory-{uuid.uuid4().hex[:8]}") as c:
        text = err(await c.call_tool("get_action", {"action_id": f"{marker}\x00"}))
        assert text.endswith(f"action_id: {CONTROL_RULE}"), text
        history = ok(await c.call_tool("recent_history", {"limit": 5}))["actions"]
        assert [(a["tool"], a["status"]) for a in history if a["tool"] == "get_action"] == [("get_action", "error")]
    rows = [r for r in audit_rows() if marker in r[1]]
    assert len(rows) == 1
    tool, arguments, error = rows[0]
    # What the operator reads: the NUL written out, never stored raw.
    assert (tool, json.loads(arguments), error) == ("get_action", {"action_id": f"{marker}\\x00"},
                                                     f"action_id: {CONTROL_RULE}")


# -- control characters: every kind, nested arguments, and what stays allowed ------------------


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x80", "\x85",
                                  "\x9f"])
async def test_every_control_character_is_refused(client_for, char: str) -> None:
    async with client_for("alice") as c:
        text = err(await c.call_tool("remember", {"text": f"The door code is 4417{char}"}))
        assert text.endswith(f"text: {CONTROL_RULE}"), text
        assert ok(await c.call_tool("recent_history", {}))["recent_memories"] == []


async def test_nested_arguments_name_the_path(client_for) -> None:
    async with client_for("alice") as c:
        turns = [{"role": "user", "content": "hola"}, {"role": "assistant", "content": "que\x1btal"}]
        text = err(await c.call_tool("log_conversation", {"messages": turns}))
        assert text.endswith(f"messages[1].content: {CONTROL_RULE}"), text
        text = err(await c.call_tool("set_profile", {"preferences": {"tea": "green\x00"}}))
        assert text.endswith(f"preferences.tea: {CONTROL_RULE}"), text
        text = err(await c.call_tool("set_profile", {"preferences": {"t\x00ea": "green"}}))
        assert text.endswith(f"preferences: {CONTROL_RULE}") and "\x00" not in text, text
        profile = ok(await c.call_tool("get_profile", {}))
        assert profile["preferences"] == {}
        assert ok(await c.call_tool("recent_history", {}))["conversations"] == []


async def test_tabs_newlines_and_other_scripts_are_kept(client_for) -> None:
    async with client_for("alice") as c:
        text = "Lista:\n\t- café\r\n\t- 日本語 ✓"
        out = ok(await c.call_tool("remember", {"text": text}))
        assert out["memory"]["text"] == text


async def test_resource_parameters_prompt_arguments_and_completions_are_checked(client_for) -> None:
    async with client_for("alice") as c:
        for uri, field in [("jarvis://me/memories/abc%1B", "memory_id"), ("jarvis://me/contacts/%7F", "contact_id"),
                           ("jarvis://me/documents/x%01/original", "document_id")]:
            with pytest.raises(MCPError, match=f"{field}: {CONTROL_RULE}"):
                await c.read_resource(uri)
        with pytest.raises(MCPError, match=f"query: {CONTROL_RULE}"):
            await c.get_prompt("context", {"query": "dentist\x00"})
        with pytest.raises(MCPError, match=f"name: {CONTROL_RULE}"):
            await c.get_prompt("contact", {"name": "Eve\x85"})
        ref = ResourceTemplateReference(uri="jarvis://me/contacts/{contact_id}")
        with pytest.raises(MCPError, match=f"contact_id: {CONTROL_RULE}"):
            await c.complete(ref, {"name": "contact_id", "value": "e\x00"})
        with pytest.raises(MCPError, match=f"name: {CONTROL_RULE}"):
            await c.complete(PromptReference(name="contact"), {"name": "name", "value": "e\x01"})


def test_the_audit_never_stores_a_control_character() -> None:
    assert printable("a\x00b\x1b[31m\x9f\tc\n") == "a\\x00b\\x1b[31m\\x9f\tc\n"
    assert _redact({"action_id": "x\x00", "turns": [{"content": "y\x7f"}], "k\x00": "v"}) == {
        "action_id": "x\\x00", "turns": [{"content": "y\\x7f"}], "k\\x00": "v"}


# -- time zones ----------------------------------------------------------------------------------

BAD_ZONES = ["America", "Etc", "Europe", "a" * 300, "America/" + "x" * 300, "Europe/", "/etc/passwd", "../etc",
             "zone.tab", "Mars/Olympus", " ", ""]


@pytest.mark.parametrize("name", BAD_ZONES, ids=[repr(z[:12]) for z in BAD_ZONES])
async def test_set_profile_names_the_timezone(client_for, name: str) -> None:
    async with client_for("alice") as c:
        text = err(await c.call_tool("set_profile", {"timezone": name}))
        assert text.endswith(ZONE_RULE), text
        assert ok(await c.call_tool("get_profile", {}))["timezone"] is None


@pytest.mark.parametrize("name", ["Etc", "America", "x" * 300])
async def test_schedule_event_names_the_timezone(client_for, name: str) -> None:
    async with client_for("alice") as c:
        text = err(await c.call_tool("schedule_event", {**EVENT, "timezone": name}))
        assert text.endswith(ZONE_RULE), text
        await nothing_written(c)


async def test_real_zones_are_kept(client_for) -> None:
    async with client_for("alice") as c:
        for name in ["America/Argentina/Buenos_Aires", "Etc/GMT+5", "UTC", " Europe/Madrid "]:
            assert ok(await c.call_tool("set_profile", {"timezone": name}))["timezone"] == name.strip()


def test_a_stored_zone_that_no_longer_resolves_reads_as_utc() -> None:
    assert zone("America").key == "UTC" and zone(None).key == "UTC" and zone("Europe/Madrid").key == "Europe/Madrid"
    with pytest.raises(InvalidInput) as bad:
        valid_zone("timezone", "Etc")
    assert str(bad.value) == ZONE_RULE
