"""The identity toolset's list_identities: the caller's own sign-in methods, masked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oauth_support import app_client, call_tool, settings, tokens_for, tool_result

from jarvis_mcp.identity.ports import IdentityRecord
from jarvis_mcp.identity.service import mask


async def test_lists_the_stdio_users_own_identity(client_for) -> None:
    async with client_for("alice") as alice:
        result = await alice.call_tool("list_identities", {})
    assert not result.is_error
    listed = result.structured_content["identities"]
    assert [(i["method"], i["subject"]) for i in listed] == [("local", "al*ce")]
    assert result.structured_content["count"] == 1


async def test_a_bad_method_is_refused_naming_the_field(client_for) -> None:
    async with client_for("alice") as alice:
        result = await alice.call_tool("list_identities", {"method": "fax"})
    assert result.is_error
    assert "method: must be one of email, google, wallet, telegram, local" in result.content[0].text


async def test_filter_by_method(client_for) -> None:
    async with client_for("alice") as alice:
        none = await alice.call_tool("list_identities", {"method": "Wallet"})
    assert none.structured_content == {"identities": [], "count": 0}


def test_over_http_each_person_sees_only_their_own(tmp_path: Path, embedder: Any) -> None:
    with app_client(settings(tmp_path / "home"), embedder) as client:
        ana = tokens_for(client, "ana@example.com")
        client.cookies.clear()
        bob = tokens_for(client, "bob@example.org")
        seen_by_bob = tool_result(call_tool(client, bob["access_token"], "list_identities"))
        seen_by_ana = tool_result(call_tool(client, ana["access_token"], "list_identities"))
    assert [i["subject"] for i in seen_by_bob["structuredContent"]["identities"]] == ["b**@example.org"]
    assert [i["subject"] for i in seen_by_ana["structuredContent"]["identities"]] == ["a**@example.com"]


def test_masking() -> None:
    def rec(subject: str, email: str | None = None) -> IdentityRecord:
        return IdentityRecord("i", subject, "m", email, 0.0, 0.0)

    assert mask(rec("ana@example.com", "ana@example.com")) == "a**@example.com"
    assert mask(rec("0x" + "ab" * 20)) == "0xabab…abab"
    assert mask(rec("123456789")) == "12*****89"
    assert mask(rec("abc")) == "***"
