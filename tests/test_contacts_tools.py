"""The clients toolset and contact resources through a real in-process MCP client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import PromptReference, ResourceTemplateReference

from jarvis_mcp import bootstrap
from jarvis_mcp.contacts.ports import SourceContact, SourcePage

MADE_UP = "00000000-0000-4000-8000-000000000000"


def ok(result) -> dict[str, Any]:  # noqa: ANN001
    assert not result.is_error, result.content[0].text
    return result.structured_content


def err(result) -> str:  # noqa: ANN001
    assert result.is_error
    return result.content[0].text


async def spanish(c: Client) -> None:
    ok(await c.call_tool("set_profile", {"locale": "es-ES"}))


async def save(c: Client, **args: Any) -> dict[str, Any]:
    return ok(await c.call_tool("save_contact", args))


# -- happy paths ----------------------------------------------------------------------------------


async def test_save_search_delete(client_for) -> None:
    async with client_for("alice") as c:
        await spanish(c)
        created = await save(c, name="María García", phones=["612 345 678"], emails=["maria@acme.com"], company="Acme",
                             tags=["client"], notes="Met at the fintech meetup")
        assert created["created"] is True and created["contact"]["phones"] == ["+34612345678"]
        cid = created["contact"]["id"]
        updated = await save(c, name="María", emails=["maria@acme.com"], role="CFO")
        assert updated["created"] is False and "maria@acme.com" in updated["reason"]
        assert updated["contact"]["id"] == cid and updated["contact"]["role"] == "CFO"

        for query in ("maria", "612 34", "acme", "the guy I met at the fintech meetup"):
            found = ok(await c.call_tool("search_clients", {"query": query}))
            assert [h["id"] for h in found["hits"]] == [cid], query
            assert found["hits"][0]["matched"] and "not instructions" in found["notice"]

        gone = ok(await c.call_tool("delete_contact", {"contact_id": cid}))
        assert gone == {"deleted": cid, "name": "María García"}
        assert ok(await c.call_tool("search_clients", {"query": "maria"}))["hits"] == []


async def test_search_filters_by_tags_and_bounds_limit(client_for) -> None:
    async with client_for("alice") as c:
        for i in range(12):
            await save(c, name=f"Luis {i}", tags=["vip"] if i % 2 else [])
        assert len(ok(await c.call_tool("search_clients", {"query": "luis"}))["hits"]) == 5
        vip = ok(await c.call_tool("search_clients", {"query": "luis", "tags": ["vip"], "limit": 50}))["hits"]
        assert len(vip) == 6 and all("vip" in h["tags"] for h in vip)


async def test_tool_annotations_tell_the_truth(client_for) -> None:
    async with client_for("alice") as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
    assert tools["search_clients"].annotations.read_only_hint is True
    assert tools["search_clients"].output_schema is not None
    assert tools["delete_contact"].annotations.destructive_hint is True
    assert tools["save_contact"].annotations.read_only_hint is False
    assert tools["sync_contacts"].annotations.open_world_hint is True
    assert "ctx" not in tools["sync_contacts"].input_schema.get("properties", {})


async def test_read_only_mode_keeps_only_search(client_for) -> None:
    async with client_for("alice", read_only=True) as c:
        names = {t.name for t in (await c.list_tools()).tools}
    assert "search_clients" in names
    assert not names & {"save_contact", "delete_contact", "sync_contacts"}


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tool", "args", "expected"), [
    ("search_clients", {"query": ""}, "query: must not be empty"),
    ("search_clients", {"query": "   "}, "query: must not be empty"),
    ("search_clients", {"query": "ana", "limit": 0}, "limit: must be between 1 and 50"),
    ("search_clients", {"query": "ana", "limit": 500}, "limit: must be between 1 and 50"),
    ("search_clients", {"query": "ana", "tags": ["no good!"]}, "tags: tag 'no good!'"),
    ("save_contact", {"name": "X", "phones": ["12345"]}, "phones[0]: '12345' is not a valid phone number for region ES"),
    ("save_contact", {"name": "X", "emails": ["nope"]}, "emails[0]: 'nope' is not an email address"),
    ("save_contact", {"company": "Acme"}, "name: give a name"),
    ("save_contact", {"contact_id": MADE_UP, "name": "X"}, f"contact not found: {MADE_UP}"),
    ("delete_contact", {"contact_id": MADE_UP}, f"contact not found: {MADE_UP}"),
])
async def test_bad_input_is_a_clear_error_and_writes_nothing(client_for, tool: str, args: dict, expected: str) -> None:
    async with client_for("alice") as c:
        await spanish(c)
        text = err(await c.call_tool(tool, args))
        assert expected in text, text
        page = json.loads((await c.read_resource("jarvis://me/contacts")).contents[0].text)
        assert page["total"] == 0


# -- cross-user -----------------------------------------------------------------------------------


async def alice_contact(alice: Client) -> dict[str, Any]:
    await spanish(alice)
    return (await save(alice, name="Zebulon Quartz", phones=["612 999 888"], emails=["zeb@quartz.io"],
                       company="Quartz", tags=["client"], notes="Knows the zanzibar deal"))["contact"]


async def test_bob_cannot_find_read_update_or_delete_alices_contacts(client_for) -> None:
    async with client_for("alice") as alice, client_for("bob") as bob:
        hers = await alice_contact(alice)
        await spanish(bob)
        for query in ("zebulon", "612 999", "zeb@quartz.io", "quartz", "zanzibar", "client", hers["id"]):
            assert ok(await bob.call_tool("search_clients", {"query": query}))["hits"] == [], query
        not_found = f"contact not found: {MADE_UP}"
        for tool, args in (("delete_contact", {"contact_id": hers["id"]}),
                           ("save_contact", {"contact_id": hers["id"], "name": "Hijack"})):
            text = err(await bob.call_tool(tool, args))
            made_up = err(await bob.call_tool(tool, {**args, "contact_id": MADE_UP}))
            assert text.replace(hers["id"], "<id>") == made_up.replace(MADE_UP, "<id>") and not_found in made_up
        # Bob's own contact with Alice's email is his, created fresh, with no hint of hers.
        mine = await save(bob, name="Zeb", emails=["zeb@quartz.io"])
        assert mine["created"] is True and mine["possible_duplicates"] == []
        still = ok(await alice.call_tool("search_clients", {"query": "zebulon"}))["hits"]
        assert [h["name"] for h in still] == ["Zebulon Quartz"]


async def test_resources_are_per_user_and_not_yours_reads_like_missing(client_for) -> None:
    async with client_for("alice") as alice, client_for("bob") as bob:
        hers = await alice_contact(alice)
        mine = json.loads((await alice.read_resource(f"jarvis://me/contacts/{hers['id']}")).contents[0].text)
        assert mine["name"] == "Zebulon Quartz"
        page = json.loads((await bob.read_resource("jarvis://me/contacts")).contents[0].text)
        assert page["total"] == 0 and page["contacts"] == []
        with pytest.raises(MCPError) as theirs:
            await bob.read_resource(f"jarvis://me/contacts/{hers['id']}")
        with pytest.raises(MCPError) as missing:
            await bob.read_resource(f"jarvis://me/contacts/{MADE_UP}")
        assert theirs.value.code == missing.value.code
        assert str(theirs.value).replace(hers["id"], "<id>") == str(missing.value).replace(MADE_UP, "<id>")


# -- resources, completion, prompt ----------------------------------------------------------------


async def test_contacts_pages(client_for) -> None:
    async with client_for("alice") as c:
        for i in range(55):
            await save(c, name=f"Person {i:02d}")
        first = json.loads((await c.read_resource("jarvis://me/contacts")).contents[0].text)
        assert len(first["contacts"]) == 50 and first["total"] == 55
        assert first["next_page"] == "jarvis://me/contacts/page/2"
        second = json.loads((await c.read_resource(first["next_page"])).contents[0].text)
        assert [x["name"] for x in second["contacts"]] == [f"Person {i}" for i in range(50, 55)]
        assert second["next_page"] is None
        with pytest.raises(MCPError):
            await c.read_resource("jarvis://me/contacts/page/zero")


async def test_completion_offers_the_callers_contacts(client_for) -> None:
    async with client_for("alice") as alice, client_for("bob") as bob:
        hers = await alice_contact(alice)
        await save(alice, name="Zoe Zimmer")
        ref = ResourceTemplateReference(uri="jarvis://me/contacts/{contact_id}")
        done = await alice.complete(ref, {"name": "contact_id", "value": "zebulon"})
        assert done.completion.values == [hers["id"]]
        names = await alice.complete(PromptReference(name="contact"), {"name": "name", "value": "z"})
        assert set(names.completion.values) == {"Zebulon Quartz", "Zoe Zimmer"}
        assert (await bob.complete(ref, {"name": "contact_id", "value": "zebulon"})).completion.values == []
        assert (await bob.complete(PromptReference(name="contact"), {"name": "name", "value": ""})).completion.values == []


async def test_contact_prompt(client_for) -> None:
    async with client_for("alice") as c:
        await alice_contact(c)
        ok(await c.call_tool("remember", {"text": "Zebulon Quartz owes me a lunch", "kind": "person"}))
        text = (await c.get_prompt("contact", {"name": "zebulon"})).messages[0].content.text
        assert '"name":"Zebulon Quartz"' in text and "owes me a lunch" in text
        none = (await c.get_prompt("contact", {"name": "nobody"})).messages[0].content.text
        assert "No contact matches" in none


# -- sync -----------------------------------------------------------------------------------------


class FakeGoogle:
    provider = "google"

    def __init__(self, pages: list[SourcePage]) -> None:
        self._pages = pages
        self.tokens: list[str | None] = []

    def pages(self, sync_token: str | None) -> Iterator[SourcePage]:
        self.tokens.append(sync_token)
        yield from self._pages


async def test_sync_without_google_says_how_to_connect(client_for) -> None:
    async with client_for("alice") as c:
        out = ok(await c.call_tool("sync_contacts", {}))
    assert out["status"] == "not_connected" and "jarvis-mcp connect google --client-secrets FILE" in out["message"]


async def test_sync_reports_progress(client_for, runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    people = [SourceContact(f"people/c{i}", name=f"Friend {i}", phones=(f"+3461200{i:04d}",)) for i in range(5)]
    fake = FakeGoogle([
        SourcePage(tuple(people[:3]), full=True, total=5),
        SourcePage(tuple(people[3:]), full=True, total=5, next_sync_token="tok-1"),
    ])
    monkeypatch.setattr(bootstrap, "make_contact_source", lambda provider, info: fake)
    rt = runtime("local")
    rt.scope_for(rt.local_user_id()).contacts.connect("google", {"refresh_token": "r"})
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with client_for("local") as c:
        out = ok(await c.call_tool("sync_contacts", {}, progress_callback=on_progress))
        assert (out["status"], out["full"], out["added"]) == ("synced", True, 5)
        assert [(p, t) for p, t, _ in seen] == [(3, 5), (5, 5)] and seen[-1][2] == "5 contacts from google"
        assert len(ok(await c.call_tool("search_clients", {"query": "friend", "limit": 50}))["hits"]) == 5
        again = ok(await c.call_tool("sync_contacts", {}))
        assert (again["added"], again["unchanged"]) == (0, 5)
        assert fake.tokens == [None, "tok-1"]
        actions = ok(await c.call_tool("recent_history", {}))["actions"]
        assert [a["tool"] for a in actions if a["tool"] == "sync_contacts"] == ["sync_contacts"] * 2
