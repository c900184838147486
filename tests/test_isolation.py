"""Two users, one store: every tool, resource and prompt, called as Bob, finds nothing of Alice's.

CASES maps each catalog entry to one async case: "tool:<name>", "resource:<uri or uri template>",
"prompt:<name>". `test_every_catalog_entry_has_a_case` lists the live catalog, so a new tool, resource or
prompt fails until its case is added here. To add one: write `async def case_x(alice, bob)` below (Alice
stores something with her client, Bob calls the new entry, including with Alice's ids, and gets nothing of
hers) and add a line to CASES. `seed_alice` and the assert helpers cover the common parts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from unittest import mock

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult

from jarvis_mcp.documents import service as documents_service

# A marker that appears in everything Alice stores: if Bob ever sees it, isolation broke.
SECRET = "zanzibar"
MADE_UP_ID = "00000000-0000-4000-8000-000000000000"


@dataclass
class AliceData:
    memory_id: str
    memory_ids: list[str]
    conversation_id: str


async def seed_alice(alice: Client) -> AliceData:
    """Alice's name, preferences, memories (one with a rare keyword) and a conversation, all carrying SECRET."""
    ok(await alice.call_tool("set_profile", {"name": f"Alice {SECRET}", "preferences": {"pet": f"{SECRET} the cat"},
                                             "timezone": "Europe/Paris"}))
    first = ok(await alice.call_tool("remember", {
        "text": f"My bank PIN hint is the {SECRET} holiday", "kind": "fact", "tags": ["bank"],
    }))["memory"]["id"]
    second = ok(await alice.call_tool("remember", {
        "text": f"Invoice INV-{SECRET} from Kestrel Plumbing is due Friday", "kind": "task", "tags": ["bills"],
        "occurred_at": "2024-05-01T10:00:00Z",
    }))["memory"]["id"]
    logged = ok(await alice.call_tool("log_conversation", {
        "messages": [{"role": "user", "content": f"Book the {SECRET} trip for the family"},
                     {"role": "assistant", "content": f"Noted: the family trip to {SECRET} in June"}],
        "title": f"Trip to {SECRET}",
    }))
    return AliceData(first, [first, second, *logged["memory_ids"]], logged["conversation_id"])


# -- helpers --------------------------------------------------------------------------------------


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return result.structured_content


def assert_clean(value: Any, alice: AliceData | None = None) -> None:
    """Nothing of Alice's anywhere in what Bob got: not her marker, not her ids."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    assert SECRET not in text.lower(), text
    if alice is not None:
        for ident in (*alice.memory_ids, alice.conversation_id):
            assert ident not in text, text


def unecho(text: str, typed: str) -> str:
    """`text` without what Bob typed himself, in each form a result echoes it (quoted, JSON, a query block)."""
    for form in (f"<query>\n{typed}\n</query>", json.dumps(typed), repr(typed)):
        text = text.replace(form, "")
    return text


def assert_tool_clean(result: CallToolResult, alice: AliceData | None, echoed: str = "") -> None:
    """`echoed`: what Bob typed himself (a query) and the result may repeat; it is left out of the check."""
    structured = dict(result.structured_content or {})
    if echoed:
        structured.pop("query", None)
    for block in result.content:
        assert_clean(unecho(getattr(block, "text", ""), echoed), alice)
    assert_clean(structured, alice)


def same_error(for_hers: str, hers: str, for_made_up: str, made_up: str) -> None:
    """An error about Alice's id reads exactly like one about an id that never existed."""
    assert for_hers.replace(hers, "<id>") == for_made_up.replace(made_up, "<id>")


async def read_error(client: Client, uri: str) -> tuple[int, str]:
    with pytest.raises(MCPError) as raised:
        await client.read_resource(uri)
    return raised.value.code, str(raised.value)


# -- tools ----------------------------------------------------------------------------------------


async def case_remember(alice: Client, bob: Client) -> None:
    data = await seed_alice(alice)
    # The same text is new for Bob (dedup is per user), and near-duplicates come only from his own memories.
    result = await bob.call_tool("remember", {"text": f"My bank PIN hint is the {SECRET} holiday"})
    out = ok(result)
    assert out["created"] is True and out["duplicate_of"] is None and out["similar"] == []
    assert out["memory"]["id"] not in data.memory_ids
    near = ok(await bob.call_tool("remember", {"text": f"Invoice INV-{SECRET} from Kestrel Plumbing is due on Friday"}))
    assert near["created"] is True and near["similar"] == []  # Alice's invoice is not Bob's near-duplicate


async def case_search_memory(alice: Client, bob: Client) -> None:
    data = await seed_alice(alice)
    ok(await bob.call_tool("remember", {"text": "Bob keeps his bike in the garage", "tags": ["bills"]}))
    for args in (
        {"query": SECRET},
        {"query": f"INV-{SECRET} Kestrel Plumbing invoice"},
        {"query": "bank PIN hint holiday", "top_k": 50},
        {"query": "family trip", "kinds": ["conversation", "fact", "task"]},
        {"query": "bills", "tags": ["bills", "bank"], "top_k": 50},
        {"query": "invoice", "since": "2024-01-01T00:00:00Z", "until": "2024-12-31T00:00:00Z"},
    ):
        result = await bob.call_tool("search_memory", args)
        hits = ok(result)["hits"]
        assert all(h["id"] not in data.memory_ids for h in hits), args
        assert_tool_clean(result, data, echoed=args["query"])


async def case_forget(alice: Client, bob: Client) -> None:
    data = await seed_alice(alice)
    hers = ok(await bob.call_tool("forget", {"memory_ids": [data.memory_id]}))
    made_up = ok(await bob.call_tool("forget", {"memory_ids": [MADE_UP_ID]}))
    assert hers == {"forgotten": [], "not_found": [data.memory_id], "confirmation": None}
    assert made_up == {"forgotten": [], "not_found": [MADE_UP_ID], "confirmation": None}
    still = await alice.read_resource(f"jarvis://me/memories/{data.memory_id}")
    assert json.loads(still.contents[0].text)["id"] == data.memory_id
    assert len(ok(await alice.call_tool("search_memory", {"query": SECRET, "top_k": 50}))["hits"]) == 4


async def case_log_conversation(alice: Client, bob: Client) -> None:
    data = await seed_alice(alice)
    # Turns identical to Alice's are stored for Bob as his own.
    logged = ok(await bob.call_tool("log_conversation", {
        "messages": [{"role": "user", "content": f"Book the {SECRET} trip for the family"}],
    }))
    assert logged["conversation_id"] != data.conversation_id
    assert not set(logged["memory_ids"]) & set(data.memory_ids)
    history = ok(await bob.call_tool("recent_history", {}))
    assert [c["conversation_id"] for c in history["conversations"]] == [logged["conversation_id"]]
    assert {m["id"] for m in history["recent_memories"]} == set(logged["memory_ids"])


async def case_get_profile(alice: Client, bob: Client) -> None:
    await seed_alice(alice)
    result = await bob.call_tool("get_profile", {})
    profile = ok(result)
    assert profile["name"] is None and profile["preferences"] == {} and profile["timezone"] is None
    assert profile["onboarding_complete"] is False
    assert_tool_clean(result, None)


async def case_set_profile(alice: Client, bob: Client) -> None:
    await seed_alice(alice)
    result = await bob.call_tool("set_profile", {"preferences": {"coffee": "black", "pet": ""}})
    out = ok(result)
    assert out["preferences"] == {"coffee": "black"}  # merged with Bob's (none), not Alice's
    assert out["name"] is None
    assert_tool_clean(result, None)
    ok(await bob.call_tool("set_profile", {"name": "Bob"}))
    hers = ok(await alice.call_tool("get_profile", {}))
    assert hers["name"] == f"Alice {SECRET}" and hers["preferences"] == {"pet": f"{SECRET} the cat"}


async def case_recent_history(alice: Client, bob: Client) -> None:
    data = await seed_alice(alice)
    result = await bob.call_tool("recent_history", {"limit": 200})
    history = ok(result)
    assert history["conversations"] == [] and history["recent_memories"] == [] and history["actions"] == []
    assert_tool_clean(result, data)


async def case_get_usage(alice: Client, bob: Client) -> None:
    data = await seed_alice(alice)
    for _ in range(2):  # Alice's cache hits and misses, and her calls, are hers
        ok(await alice.call_tool("search_memory", {"query": SECRET}))
    result = await bob.call_tool("get_usage", {})
    usage = ok(result)
    assert (usage["memories"], usage["conversations"], usage["days"]) == (0, 0, [])
    assert usage["cache"] == {"hits": 0, "misses": 0, "hit_rate": None, "search_hits": 0, "search_misses": 0,
                              "embedding_hits": 0, "embedding_misses": 0}
    assert all(limit["used"] <= 1 for limit in usage["limits"])  # at most his own get_usage
    assert_tool_clean(result, data)


# -- resources ------------------------------------------------------------------------------------


async def case_profile_resource(alice: Client, bob: Client) -> None:
    await seed_alice(alice)
    text = (await bob.read_resource("jarvis://me/profile")).contents[0].text
    assert json.loads(text)["name"] is None
    assert_clean(text)


async def case_memory_resource(alice: Client, bob: Client) -> None:
    data = await seed_alice(alice)
    for hers in data.memory_ids:
        code, message = await read_error(bob, f"jarvis://me/memories/{hers}")
        made_up_code, made_up_message = await read_error(bob, f"jarvis://me/memories/{MADE_UP_ID}")
        assert code == made_up_code
        same_error(message, hers, made_up_message, MADE_UP_ID)
        assert_clean(message)


async def case_history_resource(alice: Client, bob: Client) -> None:
    data = await seed_alice(alice)
    text = (await bob.read_resource("jarvis://me/history")).contents[0].text
    history = json.loads(text)
    assert history["conversations"] == [] and history["recent_memories"] == [] and history["actions"] == []
    assert_clean(text, data)


async def case_usage_resource(alice: Client, bob: Client) -> None:
    data = await seed_alice(alice)
    ok(await alice.call_tool("search_memory", {"query": SECRET}))
    text = (await bob.read_resource("jarvis://me/usage")).contents[0].text
    usage = json.loads(text)
    assert (usage["memories"], usage["conversations"], usage["days"]) == (0, 0, [])
    assert usage["cache"]["hits"] == 0 and usage["cache"]["misses"] == 0
    assert_clean(text, data)


# -- prompts --------------------------------------------------------------------------------------


async def case_onboarding_prompt(alice: Client, bob: Client) -> None:
    await seed_alice(alice)
    prompt = await bob.get_prompt("onboarding", {})
    text = "\n".join(m.content.text for m in prompt.messages)
    assert '"name":null' in text
    assert_clean(text)


async def case_context_prompt(alice: Client, bob: Client) -> None:
    data = await seed_alice(alice)
    for query in (SECRET, "bank PIN hint", f"INV-{SECRET} invoice", "family trip"):
        prompt = await bob.get_prompt("context", {"query": query})
        text = "\n".join(m.content.text for m in prompt.messages)
        assert "(none stored yet)" in text
        assert_clean(unecho(text, query), data)  # the query Bob typed is echoed back, nothing else


# -- documents ------------------------------------------------------------------------------------


async def seed_alice_document(alice: Client) -> str:
    """A document of Alice's whose title, text and passages carry SECRET; returns its id."""
    text = f"# {SECRET} lease\n\nThe {SECRET} flat costs 950 euros a month. Cats need the landlord's consent."
    return ok(await alice.call_tool("add_document", {"title": f"Lease {SECRET}", "text": text, "tags": ["home"]}))[
        "document"]["id"]


async def assert_document_not_found(bob: Client, tool: str, doc_id: str) -> None:
    hers = await bob.call_tool(tool, {"document_id": doc_id})
    made_up = await bob.call_tool(tool, {"document_id": MADE_UP_ID})
    assert hers.is_error and made_up.is_error
    same_error(hers.content[0].text, doc_id, made_up.content[0].text, MADE_UP_ID)
    assert_clean(hers.content[0].text.replace(doc_id, ""))


async def case_add_document(alice: Client, bob: Client) -> None:
    doc_id = await seed_alice_document(alice)
    # The same bytes are new for Bob (dedup is per user) and become his own document.
    text = f"# {SECRET} lease\n\nThe {SECRET} flat costs 950 euros a month. Cats need the landlord's consent."
    his = ok(await bob.call_tool("add_document", {"title": "Bob's copy", "text": text}))
    assert his["created"] is True and his["document"]["id"] != doc_id and his["document"]["title"] == "Bob's copy"
    ok(await bob.call_tool("delete_document", {"document_id": his["document"]["id"]}))
    assert ok(await alice.call_tool("list_documents", {}))["total"] == 1


async def case_list_documents(alice: Client, bob: Client) -> None:
    doc_id = await seed_alice_document(alice)
    for args in ({}, {"query": SECRET}, {"tags": ["home"]}, {"limit": 100}):
        result = await bob.call_tool("list_documents", args)
        out = ok(result)
        assert out["documents"] == [] and out["total"] == 0 and out["bytes_used"] == 0
        assert doc_id not in json.dumps(out)
        assert_tool_clean(result, None)


async def case_get_document(alice: Client, bob: Client) -> None:
    doc_id = await seed_alice_document(alice)
    await assert_document_not_found(bob, "get_document", doc_id)


async def case_get_job(alice: Client, bob: Client) -> None:
    # A big document of Alice's goes to the queue (the threshold made small): its job is hers alone.
    with mock.patch.object(documents_service, "QUEUE_ABOVE_CHARS", 500):
        text = f"{SECRET} clause. " * 200
        added = ok(await alice.call_tool("add_document", {"title": f"Deed {SECRET}", "text": text}))
    job_id = added["job_id"]
    assert job_id and ok(await alice.call_tool("get_job", {"job_id": job_id}))["job_id"] == job_id
    hers = await bob.call_tool("get_job", {"job_id": job_id})
    made_up = await bob.call_tool("get_job", {"job_id": MADE_UP_ID})
    assert hers.is_error and made_up.is_error
    same_error(hers.content[0].text, job_id, made_up.content[0].text, MADE_UP_ID)
    assert_clean(hers.content[0].text.replace(job_id, ""))


async def case_delete_document(alice: Client, bob: Client) -> None:
    doc_id = await seed_alice_document(alice)
    await assert_document_not_found(bob, "delete_document", doc_id)
    assert ok(await alice.call_tool("get_document", {"document_id": doc_id}))["document"]["id"] == doc_id
    hits = ok(await alice.call_tool("search_memory", {"query": "lease cats", "kinds": ["document"]}))["hits"]
    assert hits and all(h["document_id"] == doc_id for h in hits)  # her passages survived Bob's attempt


async def case_documents_resource(alice: Client, bob: Client) -> None:
    doc_id = await seed_alice_document(alice)
    text = (await bob.read_resource("jarvis://me/documents")).contents[0].text
    assert json.loads(text)["documents"] == [] and doc_id not in text
    assert_clean(text)


async def case_document_resource(alice: Client, bob: Client, suffix: str = "") -> None:
    doc_id = await seed_alice_document(alice)
    code, message = await read_error(bob, f"jarvis://me/documents/{doc_id}{suffix}")
    made_up_code, made_up_message = await read_error(bob, f"jarvis://me/documents/{MADE_UP_ID}{suffix}")
    assert code == made_up_code
    same_error(message, doc_id, made_up_message, MADE_UP_ID)
    assert_clean(message.replace(doc_id, ""))


async def case_document_original_resource(alice: Client, bob: Client) -> None:
    await case_document_resource(alice, bob, "/original")


# -- contacts -------------------------------------------------------------------------------------


async def seed_alice_contact(alice: Client) -> str:
    """Alice's client, marked with SECRET in every field that search reads; returns its id."""
    ok(await alice.call_tool("set_profile", {"locale": "es-ES"}))
    return ok(await alice.call_tool("save_contact", {
        "name": f"Kestrel {SECRET.title()}", "emails": [f"{SECRET}@kestrel.io"], "phones": ["612 999 888"],
        "company": f"{SECRET} Plumbing", "role": "plumber", "tags": ["client"],
        "notes": f"Met at the {SECRET} fintech meetup",
    }))["contact"]["id"]


async def case_search_clients(alice: Client, bob: Client) -> None:
    hers = await seed_alice_contact(alice)
    ok(await bob.call_tool("save_contact", {"name": "Bob's own plumber", "phones": ["+34 699 111 222"], "tags": ["client"]}))
    for args in ({"query": SECRET}, {"query": "kestrel"}, {"query": "612 99"}, {"query": "+34612999888"},
                 {"query": f"{SECRET}@kestrel.io"}, {"query": "kestrel.io"}, {"query": "fintech meetup"},
                 {"query": "kestrel", "tags": ["client"]}, {"query": hers}, {"query": "the guy from the meetup"}):
        result = await bob.call_tool("search_clients", args)
        # Bob's own plumber may match a digit run of an id; nothing of Alice's may.
        assert all(h["id"] != hers and "Bob" in h["name"] for h in ok(result)["hits"]), args
        for block in result.content:
            assert_clean(unecho(block.text, args["query"]))
            assert hers not in unecho(block.text, args["query"])


async def case_save_contact(alice: Client, bob: Client) -> None:
    hers = await seed_alice_contact(alice)
    # Alice's email and phone do not make Bob's save an update of her contact, nor a "possible duplicate".
    mine = ok(await bob.call_tool("save_contact", {"name": "Kes", "emails": [f"{SECRET}@kestrel.io"],
                                                   "phones": ["+34 612 999 888"]}))
    assert mine["created"] is True and mine["contact"]["id"] != hers and mine["possible_duplicates"] == []
    theirs = await bob.call_tool("save_contact", {"contact_id": hers, "name": "Hijacked"})
    made_up = await bob.call_tool("save_contact", {"contact_id": MADE_UP_ID, "name": "Hijacked"})
    assert theirs.is_error and made_up.is_error
    same_error(theirs.content[0].text, hers, made_up.content[0].text, MADE_UP_ID)
    still = json.loads((await alice.read_resource(f"jarvis://me/contacts/{hers}")).contents[0].text)
    assert still["name"] == f"Kestrel {SECRET.title()}" and still["emails"] == [f"{SECRET}@kestrel.io"]


async def case_delete_contact(alice: Client, bob: Client) -> None:
    hers = await seed_alice_contact(alice)
    theirs = await bob.call_tool("delete_contact", {"contact_id": hers})
    made_up = await bob.call_tool("delete_contact", {"contact_id": MADE_UP_ID})
    assert theirs.is_error and made_up.is_error
    same_error(theirs.content[0].text, hers, made_up.content[0].text, MADE_UP_ID)
    assert [h["id"] for h in ok(await alice.call_tool("search_clients", {"query": "kestrel"}))["hits"]] == [hers]


def runtime_behind(client: Client):  # noqa: ANN201 - jarvis_mcp.runtime.Runtime
    """The runtime of an in-process client's server, to store what no tool may (provider credentials)."""
    import inspect

    run = client.server._tool_manager.get_tool("sync_contacts").fn  # type: ignore[union-attr]
    return inspect.getclosurevars(run).nonlocals["self"].shared.runtime


async def case_sync_contacts(alice: Client, bob: Client) -> None:
    from jarvis_mcp import bootstrap
    from jarvis_mcp.contacts.ports import SourceContact, SourcePage

    await seed_alice_contact(alice)
    used: list[dict[str, object]] = []

    class AlicesGoogle:
        provider = "google"

        def pages(self, sync_token: str | None):  # noqa: ANN202
            yield SourcePage((SourceContact("people/c1", name=f"Osprey {SECRET}", emails=(f"osprey@{SECRET}.io",)),),
                             full=True, total=1, next_sync_token=f"{SECRET}-sync")

    def make(provider: str, info: dict[str, object]) -> AlicesGoogle:
        used.append(info)
        return AlicesGoogle()

    runtime = runtime_behind(alice)
    alice_id = runtime.store.user_for_identity("local", "alice", "local", None)
    runtime.scope_for(alice_id).contacts.connect("google", {"refresh_token": f"{SECRET}-refresh"})
    original, bootstrap.make_contact_source = bootstrap.make_contact_source, make
    try:
        assert ok(await alice.call_tool("sync_contacts", {}))["added"] == 1
        result = await bob.call_tool("sync_contacts", {})
        assert ok(result)["status"] == "not_connected"
        assert_tool_clean(result, None)
    finally:
        bootstrap.make_contact_source = original
    assert used == [{"refresh_token": f"{SECRET}-refresh"}]  # only Alice's own sync used her credentials
    assert ok(await bob.call_tool("search_clients", {"query": "osprey"}))["hits"] == []


async def case_contacts_resource(alice: Client, bob: Client) -> None:
    await seed_alice_contact(alice)
    for uri in ("jarvis://me/contacts", "jarvis://me/contacts/page/1"):
        text = (await bob.read_resource(uri)).contents[0].text
        page = json.loads(text)
        assert page["total"] == 0 and page["contacts"] == [] and page["next_page"] is None
        assert_clean(text)


async def case_contact_resource(alice: Client, bob: Client) -> None:
    hers = await seed_alice_contact(alice)
    code, message = await read_error(bob, f"jarvis://me/contacts/{hers}")
    made_up_code, made_up_message = await read_error(bob, f"jarvis://me/contacts/{MADE_UP_ID}")
    assert code == made_up_code
    same_error(message, hers, made_up_message, MADE_UP_ID)
    assert_clean(message)


async def case_contact_prompt(alice: Client, bob: Client) -> None:
    from mcp.types import PromptReference, ResourceTemplateReference

    hers = await seed_alice_contact(alice)
    for name in (SECRET, "kestrel", hers):
        prompt = await bob.get_prompt("contact", {"name": name})
        text = "\n".join(m.content.text for m in prompt.messages)
        assert "No contact matches" in text
        assert_clean(unecho(text, name))
        assert hers not in unecho(text, name)
    # Argument completion offers only the caller's own contacts.
    names = await bob.complete(PromptReference(name="contact"), {"name": "name", "value": "kes"})
    ids = await bob.complete(ResourceTemplateReference(uri="jarvis://me/contacts/{contact_id}"),
                             {"name": "contact_id", "value": ""})
    assert names.completion.values == [] and ids.completion.values == []


# -- actions and the voice key --------------------------------------------------------------------

ALICE_PHRASE = f"the {SECRET} parrot sings at noon"


async def seed_alice_action(alice: Client) -> str:
    """Alice's voice key and a pending bulk deletion whose arguments carry SECRET; returns the action id."""
    ok(await alice.call_tool("set_voice_key", {"phrase": ALICE_PHRASE}))
    out = ok(await alice.call_tool("forget", {"memory_ids": [f"{SECRET}-{i}" for i in range(11)]}))
    return out["confirmation"]["action_id"]


async def assert_action_not_found(bob: Client, tool: str, action_id: str, **extra: Any) -> None:
    hers = await bob.call_tool(tool, {"action_id": action_id, **extra})
    made_up = await bob.call_tool(tool, {"action_id": MADE_UP_ID, **extra})
    assert hers.is_error and made_up.is_error
    same_error(hers.content[0].text, action_id, made_up.content[0].text, MADE_UP_ID)
    assert_clean(hers.content[0].text.replace(action_id, ""))


async def assert_still_pending(alice: Client, action_id: str) -> None:
    assert ok(await alice.call_tool("get_action", {"action_id": action_id}))["status"] == "pending_confirmation"


async def case_set_voice_key(alice: Client, bob: Client) -> None:
    hers = await seed_alice_action(alice)
    # Alice's key does not make Bob's first one a change, and her phrase is not his current one.
    mine = ok(await bob.call_tool("set_voice_key", {"phrase": "bob keeps bees in the attic"}))
    assert mine == {"has_voice_key": True, "locked_until": None, "attempts_left": 5}
    changed = await bob.call_tool("set_voice_key", {"phrase": "another phrase for bob", "current_phrase": ALICE_PHRASE})
    assert changed.is_error and "wrong voice key" in changed.content[0].text
    assert_clean(changed.content[0].text)
    # Her key is untouched: her phrase still confirms her action.
    done = ok(await alice.call_tool("confirm_action", {"action_id": hers, "phrase": ALICE_PHRASE}))
    assert done["status"] == "completed"


async def case_confirm_action(alice: Client, bob: Client) -> None:
    hers = await seed_alice_action(alice)
    await assert_action_not_found(bob, "confirm_action", hers, phrase=ALICE_PHRASE)
    await assert_action_not_found(bob, "confirm_action", hers)  # no phrase: no dialog about her action either
    ok(await bob.call_tool("set_voice_key", {"phrase": "bob keeps bees in the attic"}))
    await assert_action_not_found(bob, "confirm_action", hers, phrase="bob keeps bees in the attic")
    await assert_still_pending(alice, hers)


async def case_cancel_action(alice: Client, bob: Client) -> None:
    hers = await seed_alice_action(alice)
    await assert_action_not_found(bob, "cancel_action", hers)
    await assert_still_pending(alice, hers)


async def case_get_action(alice: Client, bob: Client) -> None:
    hers = await seed_alice_action(alice)
    await assert_action_not_found(bob, "get_action", hers)


async def case_list_actions(alice: Client, bob: Client) -> None:
    hers = await seed_alice_action(alice)
    for args in ({}, {"limit": 200}):
        result = await bob.call_tool("list_actions", args)
        assert ok(result)["actions"] == []
        assert hers not in json.dumps(result.structured_content)
        assert_tool_clean(result, None)


async def case_action_resource(alice: Client, bob: Client) -> None:
    hers = await seed_alice_action(alice)
    code, message = await read_error(bob, f"jarvis://me/actions/{hers}")
    made_up_code, made_up_message = await read_error(bob, f"jarvis://me/actions/{MADE_UP_ID}")
    assert code == made_up_code
    same_error(message, hers, made_up_message, MADE_UP_ID)
    assert_clean(message)


async def case_outbox_resource(alice: Client, bob: Client) -> None:
    hers = await seed_alice_action(alice)
    text = (await bob.read_resource("jarvis://me/outbox")).contents[0].text
    assert json.loads(text)["actions"] == [] and hers not in text
    assert_clean(text)


# -- calendar -------------------------------------------------------------------------------------


CAL_DAY = f"{date.today().year + 2}-01-15"


async def seed_alice_event(alice: Client) -> dict[str, Any]:
    """An event of Alice's carrying SECRET in every text field; returns the schedule_event receipt."""
    return ok(await alice.call_tool("schedule_event", {
        "title": f"{SECRET} summit", "start": f"{CAL_DAY}T10:00", "duration_minutes": 60, "timezone": "Europe/Madrid",
        "attendees": [f"spy@{SECRET}.example"], "location": f"{SECRET} HQ", "description": f"The {SECRET} plan",
        "idempotency_key": "cal-key",
    }))


async def case_schedule_event(alice: Client, bob: Client) -> None:
    hers = await seed_alice_event(alice)
    # The same key and the same time are Bob's own: his own new event, no conflict with hers, no replay.
    result = await bob.call_tool("schedule_event", {"title": "Bob's lunch", "start": f"{CAL_DAY}T10:00",
                                                    "duration_minutes": 60, "timezone": "Europe/Madrid",
                                                    "check_conflicts": "refuse", "idempotency_key": "cal-key"})
    his = ok(result)
    assert his["action"]["replayed"] is False and his["conflicts"] == []
    assert his["event"]["id"] != hers["event"]["id"] and his["action"]["action_id"] != hers["action"]["action_id"]
    assert_tool_clean(result, None)
    listed = ok(await alice.call_tool("list_events", {"start": f"{CAL_DAY}T00:00", "end": f"{CAL_DAY}T23:00"}))
    assert [e["id"] for e in listed["events"]] == [hers["event"]["id"]]


async def case_list_events(alice: Client, bob: Client) -> None:
    hers = await seed_alice_event(alice)
    for args in ({}, {"start": f"{CAL_DAY}T00:00", "end": f"{CAL_DAY}T23:00"}, {"start": f"{CAL_DAY}T10:30Z", "limit": 500}):
        result = await bob.call_tool("list_events", args)
        assert ok(result)["events"] == []
        assert_tool_clean(result, None)
        assert hers["event"]["id"] not in json.dumps(result.structured_content)


async def case_cancel_event(alice: Client, bob: Client) -> None:
    hers = (await seed_alice_event(alice))["event"]["id"]
    made_up = "0" * 32
    theirs = await bob.call_tool("cancel_event", {"event_id": hers})
    invented = await bob.call_tool("cancel_event", {"event_id": made_up})
    assert theirs.is_error and invented.is_error
    same_error(theirs.content[0].text, hers, invented.content[0].text, made_up)
    assert ok(await bob.call_tool("list_actions", {}))["actions"] == []  # nothing was even requested
    listed = ok(await alice.call_tool("list_events", {"start": f"{CAL_DAY}T00:00", "end": f"{CAL_DAY}T23:00"}))
    assert [e["id"] for e in listed["events"]] == [hers]


async def case_calendar_resource(alice: Client, bob: Client) -> None:
    hers = (await seed_alice_event(alice))["event"]["id"]
    text = (await bob.read_resource("jarvis://me/calendar.ics")).contents[0].text
    assert "BEGIN:VCALENDAR" in text and "VEVENT" not in text and hers not in text
    assert_clean(text)


# -- mail -----------------------------------------------------------------------------------------


async def case_send_email(alice: Client, bob: Client) -> None:
    hers = await seed_alice_contact(alice)
    doc = await seed_alice_document(alice)
    args = {"to": [f"Kestrel {SECRET.title()}"], "subject": f"The {SECRET} lease", "body": f"The {SECRET} flat",
            "attachments": [doc], "idempotency_key": f"{SECRET}-mail"}
    pending = ok(await alice.call_tool("send_email", args))
    assert pending["status"] == "pending_confirmation"
    # Her contact's name finds nothing of hers (not even as a suggestion); her ids read like made-up ones.
    by_name = await bob.call_tool("send_email", {"to": ["Kestrel"], "subject": "x", "body": "y"})
    assert by_name.is_error and "no contact is named 'Kestrel'" in by_name.content[0].text
    assert_clean(by_name.content[0].text)
    assert hers not in by_name.content[0].text
    for field, her_id in (("to", hers), ("attachments", doc)):
        base = {"to": ["bob.friend@example.com"], "subject": "x", "body": "y"}
        theirs = await bob.call_tool("send_email", {**base, field: [her_id]})
        made_up = await bob.call_tool("send_email", {**base, field: [MADE_UP_ID]})
        assert theirs.is_error and made_up.is_error
        same_error(theirs.content[0].text, her_id, made_up.content[0].text, MADE_UP_ID)
    # Her idempotency key is Bob's own: his own new action, never a replay of hers.
    result = await bob.call_tool("send_email", {"to": ["bob.friend@example.com"], "subject": "Lunch", "body": "Noon?",
                                                "idempotency_key": f"{SECRET}-mail"})
    his = ok(result)
    assert his["replayed"] is False and his["action_id"] != pending["action_id"]
    assert_tool_clean(result, None)
    for tool in ("get_action", "cancel_action"):
        theirs = await bob.call_tool(tool, {"action_id": pending["action_id"]})
        made_up = await bob.call_tool(tool, {"action_id": MADE_UP_ID})
        same_error(theirs.content[0].text, pending["action_id"], made_up.content[0].text, MADE_UP_ID)
    assert ok(await alice.call_tool("get_action", {"action_id": pending["action_id"]}))["status"] == "pending_confirmation"


# -- inbox ----------------------------------------------------------------------------------------

MADE_UP_EMAIL = "e_bm9wZQ.0123456789abcdef"


def inbox_folders(tmp_path: Any) -> dict[str, str]:
    """Alice's Maildir (mail carrying SECRET) and Bob's (one lunch invitation), as JARVIS_INBOX values."""
    from inbox_support import build_maildir, mail

    hers = mail(f"Kestrel <spy@{SECRET}.example>", f"The {SECRET} plan", "Fri, 03 May 2024 09:00:00 +0000",
                f"<plan@{SECRET}.example>", f"The {SECRET} code is in the drawer")
    his = mail("Pat <pat@example.com>", "Lunch", "Sat, 04 May 2024 09:00:00 +0000", "<lunch@example.com>", "Noon?")
    build_maildir(tmp_path / "mail-alice", [(hers, False)])
    build_maildir(tmp_path / "mail-bob", [(his, False)])
    return {"alice": f"maildir:{tmp_path / 'mail-alice'}", "bob": f"maildir:{tmp_path / 'mail-bob'}"}


async def alices_email(alice: Client) -> str:
    [hers] = ok(await alice.call_tool("search_email", {"query": SECRET}))["emails"]
    return hers["id"]


async def case_search_email(alice: Client, bob: Client) -> None:
    hers = await alices_email(alice)
    for args in ({}, {"query": SECRET}, {"sender": SECRET}, {"unread": True, "limit": 50}, {"query": "drawer code"}):
        result = await bob.call_tool("search_email", args)
        found = ok(result)["emails"]
        assert all(e["subject"] == "Lunch" for e in found) and hers not in json.dumps(found)
        assert_tool_clean(result, None)


async def case_read_email(alice: Client, bob: Client) -> None:
    hers = await alices_email(alice)
    theirs = await bob.call_tool("read_email", {"email_id": hers})
    made_up = await bob.call_tool("read_email", {"email_id": MADE_UP_EMAIL})
    assert theirs.is_error and made_up.is_error
    same_error(theirs.content[0].text, hers, made_up.content[0].text, MADE_UP_EMAIL)
    assert_clean(theirs.content[0].text.replace(hers, ""))


async def case_draft_email(alice: Client, bob: Client) -> None:
    hers = await alices_email(alice)
    theirs = await bob.call_tool("draft_email", {"body": "x", "reply_to": hers})
    made_up = await bob.call_tool("draft_email", {"body": "x", "reply_to": MADE_UP_EMAIL})
    assert theirs.is_error and made_up.is_error
    same_error(theirs.content[0].text, hers, made_up.content[0].text, MADE_UP_EMAIL)
    replied = await bob.call_tool("send_email", {"body": "x", "reply_to": hers})
    assert replied.is_error and "email not found" in replied.content[0].text
    result = await bob.call_tool("draft_email", {"body": "See you", "subject": "Lunch", "to": ["pat@example.com"]})
    assert ok(result)["to"] == ["pat@example.com"]
    assert_tool_clean(result, None)
    assert [e["subject"] for e in ok(await alice.call_tool("search_email", {}))["emails"]] == [f"The {SECRET} plan"]


# -- calls ----------------------------------------------------------------------------------------


async def seed_alice_calls(alice: Client) -> tuple[str, str, str]:
    """(her contact's id, a call to that contact (dry run), a call to a stranger waiting for confirmation)."""
    hers = await seed_alice_contact(alice)
    to_contact = ok(await alice.call_tool("call_contact", {"contact": hers, "purpose": f"Pay the {SECRET} invoice"}))
    pending = ok(await alice.call_tool("call_contact", {"contact": "+44 20 7946 0958", "purpose": f"Book {SECRET}",
                                                        "idempotency_key": f"{SECRET}-call"}))
    assert pending["status"] == "pending_confirmation"
    return hers, to_contact["call_id"], pending["call_id"]


async def case_call_contact(alice: Client, bob: Client) -> None:
    hers, _, pending = await seed_alice_calls(alice)
    theirs = await bob.call_tool("call_contact", {"contact": hers, "purpose": "hi"})
    made_up = await bob.call_tool("call_contact", {"contact": MADE_UP_ID, "purpose": "hi"})
    assert theirs.is_error and made_up.is_error
    same_error(theirs.content[0].text, hers, made_up.content[0].text, MADE_UP_ID)
    by_name = await bob.call_tool("call_contact", {"contact": f"Kestrel {SECRET}", "purpose": "hi"})
    assert by_name.is_error and f"no contact is named 'Kestrel {SECRET}'" in by_name.content[0].text
    assert hers not in by_name.content[0].text and "Did you mean" not in by_name.content[0].text
    # Her contact's number is, for Bob, a stranger's: his own pending call, nothing of hers in it.
    result = await bob.call_tool("call_contact", {"contact": "+34 612 999 888", "purpose": "hi"})
    out = ok(result)
    assert out["contact_id"] is None and out["contact_name"] is None and out["status"] == "pending_confirmation"
    assert_tool_clean(result, None)
    assert hers not in json.dumps(out)
    # Her idempotency key makes Bob's own action, never a replay of hers.
    replay = ok(await bob.call_tool("call_contact", {"contact": "+44 20 7946 0958", "purpose": "hi",
                                                     "idempotency_key": f"{SECRET}-call"}))
    assert replay["replayed"] is False and replay["call_id"] != pending
    assert ok(await alice.call_tool("get_call", {"call_id": pending}))["status"] == "pending_confirmation"


async def case_get_call(alice: Client, bob: Client) -> None:
    _, placed, pending = await seed_alice_calls(alice)
    for call_id in (placed, pending):
        theirs = await bob.call_tool("get_call", {"call_id": call_id})
        made_up = await bob.call_tool("get_call", {"call_id": MADE_UP_ID})
        assert theirs.is_error and made_up.is_error
        same_error(theirs.content[0].text, call_id, made_up.content[0].text, MADE_UP_ID)
        assert_clean(theirs.content[0].text)
    mine = ok(await bob.call_tool("call_contact", {"contact": "+44 20 7946 0958", "purpose": "hi"}))
    result = await bob.call_tool("get_call", {"call_id": mine["call_id"]})
    assert ok(result)["purpose"] == "hi"
    assert_tool_clean(result, None)
    assert ok(await alice.call_tool("get_call", {"call_id": placed}))["status"] == "not_placed"


async def case_set_contact_voice(alice: Client, bob: Client) -> None:
    hers = await seed_alice_contact(alice)
    theirs = await bob.call_tool("set_contact_voice", {"contact": hers, "voice": "Rachel"})
    made_up = await bob.call_tool("set_contact_voice", {"contact": MADE_UP_ID, "voice": "Rachel"})
    assert theirs.is_error and made_up.is_error
    same_error(theirs.content[0].text, hers, made_up.content[0].text, MADE_UP_ID)
    by_name = await bob.call_tool("set_contact_voice", {"contact": f"Kestrel {SECRET}", "personality": "rude"})
    assert by_name.is_error and hers not in by_name.content[0].text
    contact = json.loads((await alice.read_resource(f"jarvis://me/contacts/{hers}")).contents[0].text)
    assert contact.get("voice_agent") is None  # nothing of Bob's reached her contact


async def case_list_identities(alice: Client, bob: Client) -> None:
    await seed_alice(alice)
    hers = ok(await alice.call_tool("list_identities", {}))["identities"]
    result = await bob.call_tool("list_identities", {})
    mine = ok(result)["identities"]
    assert len(hers) == len(mine) == 1
    assert mine[0]["subject"] != hers[0]["subject"]  # Bob's own sign-in only, never Alice's
    assert "al" not in mine[0]["subject"]
    assert_tool_clean(result, None)


# -- sentiment ------------------------------------------------------------------------------------


async def case_analyze_sentiment(alice: Client, bob: Client) -> None:
    hers = await seed_alice_contact(alice)
    ok(await alice.call_tool("remember", {"text": f"Kestrel is furious about the {SECRET} invoice, terrible call"}))
    ok(await alice.call_tool("send_email", {"to": [hers], "subject": f"The {SECRET} invoice", "body": "Sorry!"}))
    assert ok(await alice.call_tool("analyze_sentiment", {"contact": "Kestrel"}))["total_items"] == 2
    # Her contact's name resolves nothing of Bob's; her id reads like a made-up one.
    by_name = await bob.call_tool("analyze_sentiment", {"contact": "Kestrel"})
    assert by_name.is_error and "no contact is named 'Kestrel'" in by_name.content[0].text
    assert_clean(by_name.content[0].text)
    assert hers not in by_name.content[0].text
    theirs = await bob.call_tool("analyze_sentiment", {"contact": hers})
    made_up = await bob.call_tool("analyze_sentiment", {"contact": MADE_UP_ID})
    assert theirs.is_error and made_up.is_error
    same_error(theirs.content[0].text, hers, made_up.content[0].text, MADE_UP_ID)
    # Her contact's address is, for Bob, a stranger's: none of her memories or sent email about it.
    result = await bob.call_tool("analyze_sentiment", {"contact": f"{SECRET}@kestrel.io"})
    out = ok(result)
    assert out["contact_id"] is None and out["total_items"] == 0 and out["items"] == []
    assert_tool_clean(unecho_result(result, f"{SECRET}@kestrel.io"), None)
    assert_tool_clean(await bob.call_tool("analyze_sentiment", {"text": "Kestrel is fine"}), None)


# -- timeline -------------------------------------------------------------------------------------


async def seed_alice_timeline(alice: Client) -> str:
    hers = await seed_alice_contact(alice)
    ok(await alice.call_tool("remember", {"text": f"Kestrel owes the {SECRET} deposit", "participants": [hers]}))
    ok(await alice.call_tool("send_email", {"to": [hers], "subject": f"The {SECRET} deposit", "body": "Reminder"}))
    assert len(ok(await alice.call_tool("get_client_history", {"contact": "Kestrel"}))["items"]) == 2
    return hers


async def case_get_client_history(alice: Client, bob: Client) -> None:
    hers = await seed_alice_timeline(alice)
    by_name = await bob.call_tool("get_client_history", {"contact": "Kestrel"})
    assert by_name.is_error and "no contact is named 'Kestrel'" in by_name.content[0].text
    assert_clean(by_name.content[0].text)
    theirs = await bob.call_tool("get_client_history", {"contact": hers})
    made_up = await bob.call_tool("get_client_history", {"contact": MADE_UP_ID})
    assert theirs.is_error and made_up.is_error
    same_error(theirs.content[0].text, hers, made_up.content[0].text, MADE_UP_ID)
    # Her contact's address is a stranger's for Bob: none of her links to it.
    result = await bob.call_tool("get_client_history", {"contact": f"{SECRET}@kestrel.io"})
    assert ok(result)["items"] == [] and ok(result)["contact_id"] is None
    assert_tool_clean(unecho_result(result, f"{SECRET}@kestrel.io"), None)
    # Bob's own contact of the same address shows no last contact from her links.
    ok(await bob.call_tool("save_contact", {"name": "Bob's Kestrel", "emails": [f"{SECRET}@kestrel.io"]}))
    hit = ok(await bob.call_tool("search_clients", {"query": "Bob's Kestrel"}))["hits"][0]
    assert hit["last_contact_at"] is None and hit["last_contact_kind"] is None


async def case_contact_history_resource(alice: Client, bob: Client) -> None:
    hers = await seed_alice_timeline(alice)
    code, message = await read_error(bob, f"jarvis://me/contacts/{hers}/history")
    made_up_code, made_up_message = await read_error(bob, f"jarvis://me/contacts/{MADE_UP_ID}/history")
    assert code == made_up_code
    same_error(message, hers, made_up_message, MADE_UP_ID)
    assert_clean(message)


def unecho_result(result: CallToolResult, typed: str) -> CallToolResult:
    """The result with what Bob typed himself (echoed as the contact analysed) taken out."""
    content = [type(b)(type="text", text=b.text.replace(typed, "")) for b in result.content]
    structured = {k: v for k, v in (result.structured_content or {}).items() if k != "contact_name"}
    return CallToolResult(content=content, structured_content=structured, is_error=result.is_error)


Case = Callable[[Client, Client], Awaitable[None]]

CASES: dict[str, Case] = {
    "tool:remember": case_remember,
    "tool:search_memory": case_search_memory,
    "tool:forget": case_forget,
    "tool:log_conversation": case_log_conversation,
    "tool:get_profile": case_get_profile,
    "tool:set_profile": case_set_profile,
    "tool:recent_history": case_recent_history,
    "tool:get_usage": case_get_usage,
    "resource:jarvis://me/profile": case_profile_resource,
    "resource:jarvis://me/memories/{memory_id}": case_memory_resource,
    "resource:jarvis://me/history": case_history_resource,
    "resource:jarvis://me/usage": case_usage_resource,
    "prompt:onboarding": case_onboarding_prompt,
    "prompt:context": case_context_prompt,
    "tool:add_document": case_add_document,
    "tool:list_documents": case_list_documents,
    "tool:get_document": case_get_document,
    "tool:delete_document": case_delete_document,
    "tool:get_job": case_get_job,
    "resource:jarvis://me/documents": case_documents_resource,
    "resource:jarvis://me/documents/{document_id}": case_document_resource,
    "resource:jarvis://me/documents/{document_id}/original": case_document_original_resource,
    "tool:search_clients": case_search_clients,
    "tool:save_contact": case_save_contact,
    "tool:delete_contact": case_delete_contact,
    "tool:sync_contacts": case_sync_contacts,
    "resource:jarvis://me/contacts": case_contacts_resource,
    "resource:jarvis://me/contacts/page/{page}": case_contacts_resource,
    "resource:jarvis://me/contacts/{contact_id}": case_contact_resource,
    "prompt:contact": case_contact_prompt,
    "tool:set_voice_key": case_set_voice_key,
    "tool:confirm_action": case_confirm_action,
    "tool:cancel_action": case_cancel_action,
    "tool:get_action": case_get_action,
    "tool:list_actions": case_list_actions,
    "resource:jarvis://me/outbox": case_outbox_resource,
    "resource:jarvis://me/actions/{action_id}": case_action_resource,
    "tool:schedule_event": case_schedule_event,
    "tool:list_events": case_list_events,
    "tool:cancel_event": case_cancel_event,
    "resource:jarvis://me/calendar.ics": case_calendar_resource,
    "tool:send_email": case_send_email,
    "tool:search_email": case_search_email,
    "tool:read_email": case_read_email,
    "tool:draft_email": case_draft_email,
    "tool:call_contact": case_call_contact,
    "tool:get_call": case_get_call,
    "tool:set_contact_voice": case_set_contact_voice,
    "tool:analyze_sentiment": case_analyze_sentiment,
    "tool:get_client_history": case_get_client_history,
    "resource:jarvis://me/contacts/{contact_id}/history": case_contact_history_resource,
    "tool:list_identities": case_list_identities,
}


async def live_catalog(client: Client) -> set[str]:
    tools = {f"tool:{t.name}" for t in (await client.list_tools()).tools}
    resources = {f"resource:{r.uri}" for r in (await client.list_resources()).resources}
    templates = {f"resource:{t.uri_template}" for t in (await client.list_resource_templates()).resource_templates}
    prompts = {f"prompt:{p.name}" for p in (await client.list_prompts()).prompts}
    return tools | resources | templates | prompts


async def test_every_catalog_entry_has_a_case(client_for) -> None:
    async with client_for("alice") as c:
        live = await live_catalog(c)
    missing = sorted(live - CASES.keys())
    assert not missing, (
        f"no two-user isolation case for {missing}: add one to CASES in tests/test_isolation.py "
        "(Alice stores data, Bob calls the entry with her ids and gets nothing of hers)"
    )
    stale = sorted(CASES.keys() - live)
    assert not stale, f"isolation cases for entries no longer in the catalog: {stale}; remove them from CASES"


def test_case_keys_are_well_formed() -> None:
    for key in CASES:
        assert re.fullmatch(r"(tool|prompt):[\w.-]+|resource:[a-z]+://\S+", key), key


@pytest.mark.parametrize("entry", sorted(CASES))
async def test_bob_sees_nothing_of_alices(client_for, tmp_path, entry: str) -> None:
    mail = inbox_folders(tmp_path)  # each one's own mail folder (JARVIS_INBOX), for the inbox tools
    async with client_for("alice", inbox=mail["alice"]) as alice, client_for("bob", inbox=mail["bob"]) as bob:
        await CASES[entry](alice, bob)
