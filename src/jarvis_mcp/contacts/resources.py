"""jarvis://me/contacts... resources, the `contact` prompt, and completion of contact arguments."""

from __future__ import annotations

import json
from typing import Annotated, Any

import anyio.to_thread
from mcp.server.mcpserver import UserMessage
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.types import (
    CompleteRequestParams,
    CompleteResult,
    Completion,
    PromptReference,
    ResourceTemplateReference,
)
from pydantic import Field

from jarvis_mcp.contacts.models import CONTACT_NOTICE
from jarvis_mcp.handlers import Handlers, refuse_control_params
from jarvis_mcp.render import json_text
from jarvis_mcp.untrusted import data_block

CONTACT_TEMPLATE = "jarvis://me/contacts/{contact_id}"
PAGE_TEMPLATE = "jarvis://me/contacts/page/{page}"
PROMPT = "contact"
_COMPLETIONS = 20


def register(h: Handlers) -> None:
    mcp = h.mcp

    @h.resource(
        "jarvis://me/contacts", name="contacts", mime_type="application/json",
        description="Your contacts, by name: the first page (next_page links to the following ones).",
    )
    def contacts() -> str:
        return json_text(h.scope().contacts.page(1))

    @h.resource(
        PAGE_TEMPLATE, name="contacts_page", mime_type="application/json",
        description="A page of your contacts, by name (pages start at 1).",
    )
    def contacts_page(page: str) -> str:
        if not page.isdigit() or int(page) < 1:
            raise ResourceNotFoundError(f"no such page of contacts: {page}")
        return json_text(h.scope().contacts.page(int(page)))

    @h.resource(
        CONTACT_TEMPLATE, name="contact", mime_type="application/json",
        description="One of your contacts, by id (argument completion offers them by name).",
    )
    def contact(contact_id: str) -> str:
        return json_text(h.scope().contacts.get(contact_id), notice=CONTACT_NOTICE)

    @h.prompt(name=PROMPT, description="Everything known about one of your contacts: the card and related memories.")
    def contact_prompt(
        name: Annotated[str, Field(description="The contact's name (completion offers your contacts).")],
    ) -> list[UserMessage]:
        scope = h.scope()
        hits = scope.contacts.search(name, limit=3).hits
        # The name may itself be stored text: completion offers the contacts' names.
        lines = ["Context about the user's contact with this name.", CONTACT_NOTICE, data_block("query", name)]
        if not hits:
            lines.append("No contact matches that name. Ask the user who they mean, or offer to save_contact.")
            return [UserMessage("\n".join(lines))]
        best = scope.contacts.get(hits[0].id)
        card = best.model_dump_json(exclude={"id", "uri"}, exclude_none=True)
        lines.append(data_block("contact", card, id=best.id))
        if len(hits) > 1:
            others = json.dumps([{"id": x.id, "name": x.name} for x in hits[1:]], ensure_ascii=False,
                                separators=(",", ":"))
            lines += ["Other possible matches:", data_block("contacts", others)]
        memories = scope.memory.search(best.name, top_k=5).hits
        lines.append("Memories mentioning this contact:")
        lines.extend(data_block("memory", m.text, id=m.id, kind=m.kind) for m in memories)
        if not memories:
            lines.append("(none stored yet)")
        return [UserMessage("\n".join(lines))]

    lowlevel = mcp._lowlevel_server
    # One completion handler serves the whole server: keep whatever was registered before and hand it
    # every reference that is not ours.
    previous = lowlevel.get_request_handler("completion/complete")

    async def complete(ctx: Any, params: CompleteRequestParams) -> CompleteResult:
        ref, arg = params.ref, params.argument
        ours_template = isinstance(ref, ResourceTemplateReference) and ref.uri == CONTACT_TEMPLATE and arg.name == "contact_id"
        ours_prompt = isinstance(ref, PromptReference) and ref.name == PROMPT and arg.name == "name"
        if not (ours_template or ours_prompt):
            if previous is not None:
                return await previous.handler(ctx, params)
            return CompleteResult(completion=Completion(values=[]))
        refuse_control_params({arg.name: arg.value})
        scope = h.scope()
        records = await anyio.to_thread.run_sync(scope.contacts.complete, arg.value, _COMPLETIONS)
        values = [r.id for r in records] if ours_template else list(dict.fromkeys(r.name for r in records))
        return CompleteResult(completion=Completion(values=values[:100], has_more=len(records) >= _COMPLETIONS))

    lowlevel.add_request_handler("completion/complete", CompleteRequestParams, complete)
