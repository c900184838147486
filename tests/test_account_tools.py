"""The account toolset through the MCP client: get_profile, set_profile, recent_history, and the audit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult

from jarvis_mcp.account.service import AccountService
from jarvis_mcp.handlers import _redact
from jarvis_mcp.memory.models import DATA_NOTICE


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return result.structured_content


def err(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    return result.content[0].text


async def profile(c: Client) -> dict[str, Any]:
    return ok(await c.call_tool("get_profile", {}))


async def set_profile(c: Client, **fields: Any) -> dict[str, Any]:
    return ok(await c.call_tool("set_profile", fields))


def audited_arguments(runtime, user: str) -> list[tuple[str, str]]:
    """(tool, arguments JSON) as stored, oldest first: what an operator reading the audit would see."""
    rt = runtime(user)
    rows = rt.store.db.conn.execute(
        "SELECT tool, arguments FROM actions WHERE user_id = ? ORDER BY created_at", (rt.local_user_id(),)
    )
    return [(str(tool), str(args)) for tool, args in rows]


# -- profile --------------------------------------------------------------------------------------


async def test_new_user_needs_onboarding(client_for) -> None:
    async with client_for("alice") as c:
        p = await profile(c)
        assert p["onboarding_complete"] is False
        assert p["name"] is None and p["preferences"] == {}
        assert p["missing"] == ["name", "timezone", "locale", "pronouns"]
        assert p["member_since"]


async def test_setting_the_name_completes_onboarding(client_for) -> None:
    async with client_for("alice") as c:
        out = await set_profile(c, name="  Ana María  ")
        assert out["name"] == "Ana María"
        assert out["onboarding_complete"] is True
        assert "name" not in out["missing"]
        assert await profile(c) == out


async def test_partial_updates_keep_other_fields(client_for) -> None:
    async with client_for("alice") as c:
        await set_profile(c, name="Ana", pronouns="she/her")
        out = await set_profile(c, timezone="Europe/Madrid")
        assert (out["name"], out["pronouns"], out["timezone"]) == ("Ana", "she/her", "Europe/Madrid")
        out = await set_profile(c, locale="es_ES")
        assert out["locale"] == "es-ES"
        assert out["timezone"] == "Europe/Madrid" and out["name"] == "Ana"
        assert out["missing"] == []


async def test_preferences_merge_and_empty_value_removes(client_for) -> None:
    async with client_for("alice") as c:
        await set_profile(c, preferences={"coffee": "black", "music": "jazz"})
        out = await set_profile(c, preferences={"music": "", "tea": " green "})
        assert out["preferences"] == {"coffee": "black", "tea": "green"}
        out = await set_profile(c, name="Ana")
        assert out["preferences"] == {"coffee": "black", "tea": "green"}
        out = await set_profile(c, preferences={"never-set": ""})
        assert out["preferences"] == {"coffee": "black", "tea": "green"}


SET_PROFILE_REJECTS = [
    ({"timezone": "Mars/Olympus_Mons"}, "timezone: must be an IANA time zone such as Europe/Madrid"),
    ({"timezone": "../../etc/passwd"}, "timezone:"),
    ({"timezone": ""}, "timezone:"),
    ({"locale": "english please"}, "locale: 'english please' is not a language tag"),
    ({"locale": ""}, "locale:"),
    ({"name": ""}, "name: must not be empty"),
    ({"name": "   "}, "name: must not be empty"),
    ({"name": "n" * 101}, "name: must be at most 100 characters"),
    ({"pronouns": "p" * 41}, "pronouns: must be at most 40 characters"),
    ({"preferences": {"": "x"}}, "preferences: key '' must be 1-64 characters"),
    ({"preferences": {"k" * 65: "x"}}, "preferences: key"),
    ({"preferences": {"bio": "b" * 501}}, "preferences.bio: must be at most 500 characters"),
    ({"preferences": {f"k{i}": "v" for i in range(51)}}, "preferences: at most 50 preferences"),
    ({"preferences": {"age": 40}}, "\npreferences.age\n"),
    ({"name": 7}, "\nname\n"),
    ({}, "set_profile: give at least one of name, pronouns, timezone, locale, preferences"),
    # A valid field next to a bad one is not written either.
    ({"name": "Bob", "timezone": "Nowhere/City"}, "timezone:"),
    ({"name": "Bob", "preferences": {"coffee": "black", "": "x"}}, "preferences: key"),
    ({"preferences": {"coffee": "", "bio": "b" * 501}}, "preferences.bio"),
]


async def test_set_profile_rejects_bad_input_and_writes_nothing(client_for) -> None:
    async with client_for("alice") as c:
        before = await set_profile(c, name="Ana", preferences={"coffee": "white"})
        problems = []
        for args, expected in SET_PROFILE_REJECTS:
            result = await c.call_tool("set_profile", args)
            text = result.content[0].text
            if not result.is_error or expected not in text:
                problems.append(f"{repr(args)[:80]}: wanted an error containing {expected!r}, got {text[:200]!r}")
            elif await profile(c) != before:
                problems.append(f"{repr(args)[:80]}: failed but changed the profile")
        assert not problems, "\n".join(problems)


# -- recent_history -------------------------------------------------------------------------------


async def test_recent_history_lists_conversations_memories_and_actions(client_for) -> None:
    async with client_for("alice") as c:
        first = ok(await c.call_tool("remember", {"text": "Buy oat milk", "kind": "task"}))["memory"]
        second = ok(await c.call_tool("remember", {"text": "Ana's birthday is on 3 May", "kind": "fact"}))["memory"]
        logged = ok(await c.call_tool(
            "log_conversation", {"messages": [{"role": "user", "content": "hello there"}], "title": "Greeting"}
        ))
        err(await c.call_tool("remember", {"text": "x", "kind": "rumour"}))

        result = await c.call_tool("recent_history", {"limit": 10})
        history = ok(result)
        assert [m["id"] for m in history["recent_memories"]] == [logged["memory_ids"][0], second["id"], first["id"]]
        assert history["conversations"][0]["conversation_id"] == logged["conversation_id"]
        assert history["conversations"][0]["title"] == "Greeting"
        actions = [(a["tool"], a["status"]) for a in history["actions"]]
        assert actions == [("remember", "error"), ("log_conversation", "ok"), ("remember", "ok"), ("remember", "ok")]
        assert history["actions"][0]["error"] == "kind: must be one of fact, preference, event, note, task, person"
        assert history["notice"] == DATA_NOTICE

        text = result.content[0].text
        assert text.startswith("1 conversations, 3 memories, 4 actions.")
        assert DATA_NOTICE in text
        assert text.count("<memory ") == 3 and f'id="{first["id"]}"' in text

        limited = ok(await c.call_tool("recent_history", {"limit": 1}))
        assert len(limited["recent_memories"]) == 1 and len(limited["actions"]) == 1


@pytest.mark.parametrize("limit", [0, 201, -5])
async def test_recent_history_limit_is_checked(client_for, limit: int) -> None:
    async with client_for("alice") as c:
        assert "limit: must be between 1 and 200" in err(await c.call_tool("recent_history", {"limit": limit}))


# -- the audit ------------------------------------------------------------------------------------


async def test_every_call_is_audited_including_failures(client_for) -> None:
    async with client_for("alice") as c:
        await profile(c)
        err(await c.call_tool("set_profile", {"timezone": "Atlantis/Capital"}))
        err(await c.call_tool("forget", {"memory_ids": []}))
        ok(await c.call_tool("search_memory", {"query": "anything"}))
        actions = ok(await c.call_tool("recent_history", {}))["actions"]
        assert [(a["tool"], a["status"]) for a in actions] == [
            ("search_memory", "ok"), ("forget", "error"), ("set_profile", "error"), ("get_profile", "ok")
        ]
        assert actions[1]["error"] == "memory_ids: must name at least one memory"
        assert all(a["duration_ms"] >= 0 for a in actions)

        usage = json.loads((await c.read_resource("jarvis://me/usage")).contents[0].text)
        per_tool = {d["tool"]: (d["calls"], d["errors"]) for d in usage["days"]}
        assert per_tool["set_profile"] == (1, 1) and per_tool["get_profile"] == (1, 0)


async def test_internal_errors_are_opaque_and_audited(client_for, monkeypatch) -> None:
    def explode(self: AccountService) -> None:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(AccountService, "profile", explode)
    async with client_for("alice") as c:
        msg = err(await c.call_tool("get_profile", {}))
        assert "internal error (reference " in msg and "hunter2" not in msg
        reference = msg.split("reference ")[1].split(")")[0]
        actions = ok(await c.call_tool("recent_history", {}))["actions"]
        assert (actions[0]["tool"], actions[0]["status"]) == ("get_profile", "error")
        assert actions[0]["error"] == f"internal error {reference}"


async def test_audit_redacts_secret_looking_arguments(client_for, runtime) -> None:
    async with client_for("alice") as c:
        await set_profile(c, preferences={"api_token": "sk-live-123456", "coffee": "black"})
        long_turn = "word " * 2_000
        ok(await c.call_tool("log_conversation", {"messages": [{"role": "user", "content": long_turn}]}))
    stored = dict(audited_arguments(runtime, "alice"))
    assert "sk-live-123456" not in stored["set_profile"]
    assert "black" in stored["set_profile"]  # only the secret-looking value goes
    # The audit keeps a trace of the call, not a second copy of everything said.
    assert len(stored["log_conversation"]) < 1_000


def test_redact_rules() -> None:
    out = _redact({
        "voice_phrase": "open sesame", "new_password": "p", "api_key": "k", "Token": "t", "client_secret": "s",
        "text": "x" * 1_000, "top_k": 5, "nested": {"refresh_token": "r", "list": ["y" * 400]},
    })
    for name in ("voice_phrase", "new_password", "api_key", "Token", "client_secret"):
        assert out[name] == "[redacted]"
    assert out["top_k"] == 5
    assert out["text"].startswith("x" * 300) and out["text"].endswith("(1000 chars)")
    assert out["nested"]["refresh_token"] == "[redacted]"
    assert out["nested"]["list"][0].endswith("(400 chars)")


async def test_calls_rejected_by_the_schema_are_audited(client_for) -> None:
    async with client_for("alice") as c:
        err(await c.call_tool("remember", {"text": 42}))
        actions = ok(await c.call_tool("recent_history", {}))["actions"]
        assert [(a["tool"], a["status"]) for a in actions] == [("remember", "error")]


async def test_an_unknown_tool_is_audited_and_our_own_errors_once(client_for) -> None:
    async with client_for("alice") as c:
        err(await c.call_tool("no_such_tool", {}))
        err(await c.call_tool("remember", {"text": ""}))  # refused by our service: audited once, not twice
        actions = ok(await c.call_tool("recent_history", {}))["actions"]
        assert sorted((a["tool"], a["status"]) for a in actions) == [("no_such_tool", "error"), ("remember", "error")]
