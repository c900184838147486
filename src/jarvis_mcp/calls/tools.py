"""Phone calls: call_contact places one through the user's voice agent; get_call reads it back."""

from __future__ import annotations

from typing import Annotated

from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from jarvis_mcp.calls.models import CALL_NOTICE, CallDetails, CallReceipt, ContactVoice
from jarvis_mcp.handlers import Handlers
from jarvis_mcp.render import data_result, json_result
from jarvis_mcp.untrusted import data_block


def register(h: Handlers) -> None:
    @h.tool(
        title="Call contact",
        description=(
            "Phone someone for the user: a voice agent calls and talks for them. `contact` is a contact id, a "
            "contact's name, or a phone number (international format, e.g. +34 612 345 678). Calls to numbers "
            "that are not the user's contacts wait for confirmation (confirm_action). With no call provider "
            "configured the request is recorded and the result says it was not placed. Follow it with get_call."
        ),
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True),
    )
    def call_contact(
        contact: Annotated[str, Field(description="Contact id, contact name, or phone number to call.")],
        purpose: Annotated[str, Field(description="What the call is for, as instructions to the voice agent.")],
        first_message: Annotated[str | None, Field(description="What the agent says first when answered.")] = None,
        language: Annotated[str | None, Field(description="Language code of the call (es, en, ...); default: "
                                                          "the user's profile language.")] = None,
        idempotency_key: Annotated[str | None, Field(description="Retries with the same key never call twice.")] = None,
    ) -> Annotated[CallToolResult, CallReceipt]:
        scope = h.scope()
        request = scope.calls.request_call(contact, purpose, first_message, language, idempotency_key)
        return json_result(scope.calls.receipt(request, scope.actions.submit(request)))

    @h.tool(
        title="Get call",
        description="Where a call stands (waiting, not placed, in progress, done) and its transcript so far.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=True),
    )
    def get_call(
        call_id: Annotated[str, Field(description="The call_id from call_contact.")],
    ) -> Annotated[CallToolResult, CallDetails]:
        call = h.scope().calls.get_call(call_id)
        blocks = [data_block("contact", call.contact_name, id=call.contact_id)] if call.contact_name else []
        if call.summary:
            blocks.append(data_block("memory", call.summary, call=call.call_id, kind="call-summary"))
        blocks += [data_block("memory", turn.text, call=call.call_id, kind="call-transcript", role=turn.role,
                              at=f"{turn.at_seconds}s" if turn.at_seconds is not None else None)
                   for turn in call.transcript]
        head = f"Call {call.call_id} to {call.to_number}: {call.status}. {call.message}"
        if call.note:
            head += f" ({call.note})"
        return data_result(call, head, blocks, CALL_NOTICE)

    @h.tool(
        title="Set contact voice",
        description=(
            "Choose how the voice agent sounds when it phones this contact: `voice` an ElevenLabs voice id or a "
            "premade voice name (Rachel, Adam, Bella, ...), `personality` a short description of its manner. "
            "The contact's relationship to the user is passed to the agent too. An existing agent is updated."
        ),
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True),
    )
    def set_contact_voice(
        contact: Annotated[str, Field(description="Contact id, name, or phone number of a saved contact.")],
        voice: Annotated[str | None, Field(description="ElevenLabs voice id or premade voice name.")] = None,
        personality: Annotated[str | None, Field(description="How the agent should come across (max 300 "
                                                             "characters), e.g. 'warm and brief'.")] = None,
    ) -> ContactVoice:
        return h.scope().calls.set_voice(contact, voice, personality)
