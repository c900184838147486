"""set_contact_voice: a contact's chosen voice and personality (and relationship) shape its ElevenLabs agent,
made on the first call and PATCHed when they change; bad input names the field and writes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fake_elevenlabs import FakeElevenLabs
from mcp.types import CallToolResult

from jarvis_mcp import bootstrap
from jarvis_mcp.adapters.caller_elevenlabs import PROMPT

RACHEL = "21m00Tcm4TlvDq8ikWAM"


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    return result.structured_content or {}


@pytest.fixture
def eleven(monkeypatch: pytest.MonkeyPatch) -> FakeElevenLabs:
    fake = FakeElevenLabs()
    monkeypatch.setattr(bootstrap, "make_caller", lambda settings: fake.caller(agent_id="agent_default"))
    return fake


async def contact(client: Any, **extra: Any) -> str:
    saved = await client.call_tool("save_contact", {"name": "Ana López", "phones": ["+34612345678"], **extra})
    return ok(saved)["contact"]["id"]


async def test_voice_is_used_when_the_agent_is_made_then_patched_on_change(client_for, eleven) -> None:
    async with client_for("alice") as alice:
        ana = await contact(alice, relationship="hermana")
        first = ok(await alice.call_tool("set_contact_voice", {"contact": "Ana López", "voice": "rachel",
                                                               "personality": "cálida y breve"}))
        assert (first["voice"], first["personality"], first["agent_id"]) == (RACHEL, "cálida y breve", None)
        assert not eleven.requests  # no agent yet: nothing to update, made on the first call
        ok(await alice.call_tool("call_contact", {"contact": ana, "purpose": "Cena", "language": "es"}))
        [create] = eleven.of("POST", "/v1/convai/agents/create")
        config = create.body["conversation_config"]
        assert config["tts"] == {"voice_id": RACHEL}
        assert config["agent"]["prompt"]["prompt"] == (
            PROMPT % "cálida y breve" + "\nWho {{contact_name}} is to {{user_name}}: hermana")

        changed = ok(await alice.call_tool("set_contact_voice", {"contact": ana, "voice": "pNInz6obpgDQGcFmaJgB"}))
        assert changed["agent_id"] == "agent_1" and "updated" in changed["message"]
        [patch] = eleven.of("PATCH", "/v1/convai/agents/")
        assert patch.path == "/v1/convai/agents/agent_1"
        assert patch.body == {"name": "Jarvis: Ana López", "conversation_config": {
            "tts": {"voice_id": "pNInz6obpgDQGcFmaJgB"},
            "agent": {"prompt": {"prompt": PROMPT % "cálida y breve" + "\nWho {{contact_name}} is to {{user_name}}: hermana"}},
        }}  # the personality set before is kept
        shown = json.loads((await alice.read_resource(f"jarvis://me/contacts/{ana}")).contents[0].text)
        assert shown["voice_agent"]["voice"] == "pNInz6obpgDQGcFmaJgB"


async def test_a_relationship_edited_later_reaches_the_agent_before_the_next_call(client_for, eleven) -> None:
    async with client_for("alice") as alice:
        ana = await contact(alice, relationship="colleague")
        ok(await alice.call_tool("call_contact", {"contact": ana, "purpose": "Dinner"}))
        assert not eleven.of("PATCH", "/v1/convai/agents/")
        ok(await alice.call_tool("save_contact", {"contact_id": ana, "relationship": "girlfriend"}))
        ok(await alice.call_tool("call_contact", {"contact": ana, "purpose": "Dinner again"}))
        [patch] = eleven.of("PATCH", "/v1/convai/agents/")
        assert patch.path == "/v1/convai/agents/agent_1"
        assert patch.body["conversation_config"]["agent"]["prompt"]["prompt"].endswith(
            "Who {{contact_name}} is to {{user_name}}: girlfriend")
        assert len(eleven.of("POST", "/v1/convai/agents/create")) == 1  # updated, never made twice


async def test_an_english_personality_without_relationship(client_for, eleven) -> None:
    async with client_for("alice") as alice:
        await contact(alice)
        out = ok(await alice.call_tool("set_contact_voice", {"contact": "Ana", "personality": "cheerful, to the point"}))
        assert out["voice"] is None and out["personality"] == "cheerful, to the point"
        ok(await alice.call_tool("call_contact", {"contact": "Ana", "purpose": "Dinner"}))
        prompt = eleven.of("POST", "/v1/convai/agents/create")[0].body["conversation_config"]["agent"]["prompt"]
        assert prompt == {"prompt": PROMPT % "cheerful, to the point"}


@pytest.mark.parametrize(("args", "field"), [
    ({"voice": "not a voice!"}, "voice"),
    ({"voice": "abc"}, "voice"),
    ({}, "voice"),
    ({"voice": " ", "personality": " "}, "voice"),
    ({"personality": "x" * 301}, "personality"),
    ({"contact": "+44 20 7946 0958", "voice": "Rachel"}, "contact"),
])
async def test_bad_input_names_the_field_and_writes_nothing(client_for, args: dict[str, Any], field: str) -> None:
    async with client_for("alice") as alice:
        ana = await contact(alice)
        result = await alice.call_tool("set_contact_voice", {"contact": ana, **args})
        assert result.is_error and field in result.content[0].text
        shown = json.loads((await alice.read_resource(f"jarvis://me/contacts/{ana}")).contents[0].text)
        assert shown.get("voice_agent") is None


async def test_bob_cannot_set_alices_contacts_voice(client_for) -> None:
    async with client_for("alice") as alice, client_for("bob") as bob:
        ana = await contact(alice)
        theirs = await bob.call_tool("set_contact_voice", {"contact": ana, "voice": "Rachel"})
        assert theirs.is_error and "not found" in theirs.content[0].text.lower()
        shown = json.loads((await alice.read_resource(f"jarvis://me/contacts/{ana}")).contents[0].text)
        assert shown.get("voice_agent") is None
